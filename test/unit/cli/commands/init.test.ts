import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../../src/base/config.js';
import { starterConfig } from '../../../../src/cli/commands/init.js';

// The starter config, read by the config's own parser (parseConfig: the schema and every rule, the
// password files aside, which exist only on the update server).

const text = starterConfig('/srv/git/site.git', '/data/www', 'main');
const FILE = '/etc/fanout/fanout.yaml';
const examples = text.split('\n').filter((line) => /^ +# /.test(line));

/** The text with these commented lines uncommented, as a person would: the "# " removed. */
function uncomment(lines: readonly string[]): string {
  return text
    .split('\n')
    .map((line) => (lines.includes(line) ? line.replace(/^( +)# /, '$1') : line))
    .join('\n');
}

describe("fanout init's starter config", () => {
  it('is a valid config as written, with no targets', () => {
    const config = parseConfig(text, FILE);
    expect(config).toMatchObject({ repo: '/srv/git/site.git', source: '/data/www', branch: 'main', targets: [] });
  });

  it('stays a valid config when its examples are uncommented, all or each alone', () => {
    expect(examples).toHaveLength(2);
    expect(parseConfig(uncomment(examples), FILE).targets.map((t) => t.name)).toEqual(['web1', 'web2']);
    expect(parseConfig(uncomment(examples), FILE).targets[0]).toMatchObject({ name: 'web1', passwordFile: '/etc/fanout/www1.pwd' });
    for (const [i, line] of examples.entries()) {
      expect(parseConfig(uncomment([line]), FILE).targets.map((t) => t.name)).toEqual([`web${i + 1}`]);
    }
  });
});
