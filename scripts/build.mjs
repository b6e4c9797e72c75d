// Bundles src/cli/main.ts into dist/: a hook runs fanout on every push, and loading a few files
// instead of some hundred modules halves its start-up time. Split into chunks, so that the hook's
// short path (src/cli/main.ts) never loads, or even compiles, the command-line parser and the commands
// it does not run. Types are checked by `tsc --noEmit`.
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

// `fanout --version` names the commit it was built from: an operator's bug report then says
// exactly which code ran. "modified" when tracked files differed from that commit.
function builtFrom() {
  try {
    const git = (...args) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const commit = git('rev-parse', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') === '' ? commit : `${commit}, modified`;
  } catch {
    return 'unknown (not built from a git checkout)';
  }
}
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

const result = await build({
  entryPoints: [{ in: 'src/cli/main.ts', out: 'cli' }],
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
  define: { FANOUT_VERSION: JSON.stringify(version), FANOUT_BUILT_FROM: JSON.stringify(builtFrom()) },
  // some bundled dependencies are CommonJS and call require()
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
});
chmodSync('dist/cli.js', 0o755);

// The libraries are bundled into dist/, so the package installs with no dependency of its own (an
// update server need not reach a registry); their licenses ship beside them.
writeFileSync('dist/THIRD-PARTY-LICENSES.txt', thirdPartyLicenses(Object.keys(result.metafile.inputs)));

/** Each bundled package (from the files esbuild read), its version and its license text. */
function thirdPartyLicenses(inputs) {
  const dirs = new Set();
  for (const input of inputs) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) dirs.add(m[1]);
  }
  const sections = [...dirs].sort().map((dir) => {
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const file = readdirSync(dir).find((name) => /^licen[cs]e/i.test(name));
    const text = file === undefined ? `(no license file; package.json says ${pkg.license ?? 'nothing'})` : readFileSync(path.join(dir, file), 'utf8').trim();
    return `${pkg.name} ${pkg.version} (${pkg.license ?? 'unknown'})\n\n${text}\n`;
  });
  return `fanout bundles these packages into dist/:\n\n${sections.join(`\n${'-'.repeat(72)}\n\n`)}`;
}

// Chunk names carry a content hash, so a rebuild leaves the old ones behind. They go only now,
// after the new ones are written: a push during a rebuild still finds a whole set.
const written = new Set(Object.keys(result.metafile.outputs).map((file) => path.resolve(file)));
for (const name of readdirSync('dist')) if (!written.has(path.resolve('dist', name)) && name !== 'THIRD-PARTY-LICENSES.txt') rmSync(path.join('dist', name));
