// Bundles src/cli.ts into one file, dist/cli.js: a hook runs fanout on every push, and loading one
// file instead of some hundred modules halves its start-up time. Types are checked by `tsc --noEmit`.
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/cli.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // some bundled dependencies are CommonJS and call require()
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
});
chmodSync('dist/cli.js', 0o755);
