// Bundles src/cli.ts into dist/: a hook runs fanout on every push, and loading a few files
// instead of some hundred modules halves its start-up time. Split into chunks, so that the hook's
// short path (src/cli.ts) never loads, or even compiles, the command-line parser and the commands
// it does not run. Types are checked by `tsc --noEmit`.
import { chmodSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const result = await build({
  entryPoints: ['src/cli.ts'],
  outdir: 'dist',
  bundle: true,
  splitting: true,
  chunkNames: '[name]-[hash]',
  metafile: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // some bundled dependencies are CommonJS and call require()
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
});
chmodSync('dist/cli.js', 0o755);

// Chunk names carry a content hash, so a rebuild leaves the old ones behind. They go only now,
// after the new ones are written: a push during a rebuild still finds a whole set.
const written = new Set(Object.keys(result.metafile.outputs).map((file) => path.resolve(file)));
for (const name of readdirSync('dist')) if (!written.has(path.resolve('dist', name))) rmSync(path.join('dist', name));
