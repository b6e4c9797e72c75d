import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// The layout docs/development.md draws: src/ in folders, each with its header, and the tests in
// folders that mirror it. The import direction between the folders is eslint's (eslint.config.js).

const root = path.resolve(import.meta.dirname, '..');
const folders = fs.readdirSync(path.join(root, 'src'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);

/** Every file below `dir`, relative to it. */
function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((rel) => fs.statSync(path.join(dir, rel)).isFile());
}

describe('the layout', () => {
  it('has no module left at the top of src/', () => {
    expect(fs.readdirSync(path.join(root, 'src')).filter((name) => name.endsWith('.ts'))).toEqual([]);
  });

  it('gives every folder of src/ a header saying what it owns and what it may import', () => {
    for (const folder of folders) {
      const header = path.join(root, 'src', folder, 'README.md');
      expect(fs.existsSync(header), header).toBe(true);
      expect(fs.readFileSync(header, 'utf8'), header).toMatch(/May import/);
    }
  });

  it('puts each unit test beside the module it tests, in the folder that mirrors src/ (or bench/)', () => {
    // the example config's test reads config/fanout.example.yaml through base/config.ts
    const notAModule = new Set(['base/config-example.test.ts']);
    const strays = filesUnder(path.join(root, 'test/unit'))
      .filter((rel) => rel.endsWith('.test.ts') && !notAModule.has(rel))
      .filter((rel) => {
        const module = rel.replace(/\.test\.ts$/, '.ts');
        return module.startsWith('bench/') ? !fs.existsSync(path.join(root, module)) : !fs.existsSync(path.join(root, 'src', module));
      });
    expect(strays).toEqual([]);
  });

  it('files each integration test under a folder of src/', () => {
    const strays = filesUnder(path.join(root, 'test/integration')).filter((rel) => rel.endsWith('.test.ts') && !folders.includes(rel.split(path.sep)[0] ?? ''));
    expect(strays).toEqual([]);
  });
});
