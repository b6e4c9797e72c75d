import fs from 'node:fs';
import path from 'node:path';
import type { Build } from '../base/config.js';
import { FanoutError } from '../base/errors.js';
import { checkout } from '../base/checkout.js';
import { firstUnsafeName, type Commit } from '../base/git.js';
import { bytesOf, shortPath } from '../base/paths.js';
import { ownSubdir } from '../base/trust.js';
import type { Context } from '../engine/context.js';

// The build's worktree: fanout's own, under the state directory (never the bare repository's
// HEAD or index), made to hold the source commit with the cache paths kept; and the output the
// build leaves in it, which only a directory of its own, reached through no symlink, may be.

/** Where a build happens, under the state directory: its worktree, its scratch indexes, and its log. */
export interface BuildPlaces {
  tree: string;
  checkoutIndex: string;
  outputIndex: string;
  logFile: string;
}

export function buildPlaces(stateDir: string, source: Commit): BuildPlaces {
  const dir = ownSubdir(stateDir, 'build');
  const tree = path.join(dir, 'tree');
  const logFile = path.join(ownSubdir(stateDir, 'builds'), `${source}.log`);
  fs.mkdirSync(tree, { recursive: true, mode: 0o755 });
  return { tree, checkoutIndex: path.join(dir, 'checkout.index'), outputIndex: path.join(dir, 'output.index'), logFile };
}

export async function checkOutForBuild(ctx: Context, build: Build, source: Commit, places: BuildPlaces): Promise<void> {
  const { config, log } = ctx;
  // every name is checked before anything is written (invariant 8), as for a deploy
  const unsafe = await firstUnsafeName(config.repo, source, log);
  if (unsafe !== undefined) throw new FanoutError(`commit ${source.slice(0, 10)} names ${unsafe.problem}: "${shortPath(unsafe.path)}"; refusing to build it, nothing was touched`);

  // The worktree is made to hold exactly the commit, but for the cache paths: what an earlier build
  // left (a staging directory, a file it edited in place) never reaches this one. git compares
  // contents and writes only the files that differ, so an unchanged page keeps its time.
  await checkout(config.repo, places.tree, source, 'all', places.checkoutIndex, log, {
    keep: [...build.cache.map((c) => `/${c}`), `/${build.output}`],
    keepDirectories: build.cache.map(bytesOf),
    refresh: true,
  });
}

/**
 * Stale output never ships: the build writes its output afresh; never through a symlink the
 * commit put above it (`_build -> /var/www` would have fanout empty /var/www/html).
 */
export function clearOutput(tree: string, output: string, source: Commit): string {
  const dir = path.join(tree, output);
  refuseSymlinkAboveOutput(tree, output, source);
  fs.rmSync(dir, { recursive: true, force: true });
  return dir;
}

/** A build whose output lies below a symlink or a file (in the commit, or made by the build) is refused. */
export function refuseSymlinkAboveOutput(tree: string, output: string, source: Commit): void {
  const parts = output.split('/');
  for (let i = 1; i < parts.length; i += 1) {
    const above = path.join(tree, ...parts.slice(0, i));
    const st = fs.lstatSync(above, { throwIfNoEntry: false });
    if (st === undefined) return;
    // lstat: a symlink is never a directory
    if (st.isDirectory()) continue;
    const what = st.isSymbolicLink() ? 'a symlink above build.output, and fanout removes and commits nothing through one' : 'a file where build.output needs a directory';
    throw new FanoutError(`the build of ${source.slice(0, 10)} failed: ${above} is ${what} (${output}); nothing was deployed`, 1);
  }
}

/** What is wrong with the output a build left, if anything: only a directory with something in it is committed. */
export function outputProblem(name: string, output: string): string | undefined {
  return !fs.existsSync(output)
    ? `it left no ${name}/ (build.output)`
    : // a symlink there would have git record whatever it points to
      !fs.lstatSync(output).isDirectory()
      ? `${name} is not a directory (a symlink, say), and only a directory is committed`
      : fs.readdirSync(output).length === 0
        ? `${name}/ is empty`
        : undefined;
}
