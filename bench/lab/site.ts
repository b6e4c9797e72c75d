/**
 * The generated site every benchmark scenario deploys, and the edits it makes to it. Deterministic,
 * so two runs (and two approaches within a run) deploy the same tree and the same changes.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Nested directories of 100 files, sizes skewed small like pages, with some stylesheets and images. */
export function generateSite(root: string, files: number): string[] {
  const paths: string[] = [];
  let seed = 42;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let madeDir = '';
  for (let i = 0; i < files; i += 1) {
    const dir = `section${Math.floor(i / 1000)}/part${Math.floor(i / 100) % 10}`;
    const r = random();
    const [ext, size] = r < 0.8 ? ['html', 200 + Math.floor(random() * 4000)] : r < 0.98 ? ['css', 4000 + Math.floor(random() * 16000)] : ['png', 20000 + Math.floor(random() * 80000)];
    const rel = `${dir}/file${i}.${ext}`;
    // one mkdir per directory, not per file: it adds up at a million files
    if (dir !== madeDir) fs.mkdirSync(path.join(root, dir), { recursive: true });
    madeDir = dir;
    fs.writeFileSync(path.join(root, rel), `${i} `.padEnd(size, 'abcdefghij'));
    paths.push(rel);
  }
  return paths;
}

/** `count` paths spread over the site; `round` shifts the choice so repetitions touch other files. */
export function pick(paths: readonly string[], count: number, round: number): string[] {
  const step = Math.max(1, Math.floor(paths.length / count));
  return Array.from({ length: count }, (_, i) => paths[(i * step + round * 7919) % paths.length] ?? '');
}

/** Written beside and renamed over, as an editor or a checkout does. */
export function edit(root: string, rel: string, round: number): void {
  const file = path.join(root, rel);
  fs.writeFileSync(`${file}.new`, `${fs.readFileSync(file, 'utf8')}\nedit ${round}`);
  fs.renameSync(`${file}.new`, file);
}
