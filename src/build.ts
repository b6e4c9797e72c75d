import fs from 'node:fs';
import path from 'node:path';
import type { Build, Config } from './config.js';
import { FanoutError } from './errors.js';
import { childEnvironment, markGroup, run, stopLeftoverGroup, type GroupMark } from './exec.js';
import { changedPaths, checkout, commitInfo, gitEnv, type Commit } from './git.js';
import { readOwnFile, writeAtomically, type HistoryEntry, type State } from './journal.js';
import { openOwnFile, ownSubdir } from './trust.js';
import type { Context } from './passes.js';

/**
 * Builds on the update server (`build:` in the config): the pushed commit is checked out into a
 * worktree of fanout's own under the state directory (never the bare repository's HEAD or index),
 * incrementally, the cache paths kept; the command runs there with a clean environment plus
 * `build.env`; its output is committed into the bare repository as a build commit under
 * `refs/fanout/builds/<source sha>`, with an index of fanout's own, so git stores every build
 * deduplicated. From there the engine deploys build commits like any others.
 */

const REF = 'refs/fanout/builds/';

/** What a deploy knows of its build: the source commit, the build commit, and whether it was reused. */
export interface BuildFacts {
  source: Commit;
  commit: Commit;
  reused: boolean;
  durationMs: number;
}

async function git(ctx: Context, args: string[], more: Record<string, string> = {}, cwd?: string): Promise<string> {
  const result = await run('git', args, { env: { ...gitEnv(ctx.config.repo), ...more }, log: ctx.log, ...(cwd === undefined ? {} : { cwd }) });
  if (result.exitCode !== 0) throw new FanoutError(`git ${args[0] ?? ''} failed while recording the build: ${(result.spawnError ?? result.stderr).trim().split('\n')[0] ?? ''}`, 1);
  return result.stdout.trim();
}

/** The build commit of a source commit, if it was built before. */
export async function builtBefore(ctx: Context, source: Commit): Promise<Commit | undefined> {
  const result = await run('git', ['rev-parse', '--verify', '--quiet', '--end-of-options', `${REF}${source}^{commit}`], { env: gitEnv(ctx.config.repo), log: ctx.log });
  return result.exitCode === 0 ? (result.stdout.trim() as Commit) : undefined;
}

/** Whether a commit is itself a build (a rollback by history names build commits). */
export async function isBuild(ctx: Context, commit: Commit): Promise<boolean> {
  const result = await run('git', ['for-each-ref', `--points-at=${commit}`, '--format=%(refname)', REF], { env: gitEnv(ctx.config.repo), log: ctx.log });
  return result.exitCode === 0 && result.stdout.trim() !== '';
}

/** The source commit a build commit was made from (its `fanout-build-of:` trailer). */
export async function sourceOfBuild(ctx: Context, build: Commit): Promise<Commit | undefined> {
  const message = await git(ctx, ['log', '-1', '--format=%B', '--end-of-options', build]);
  const found = /^fanout-build-of: ([0-9a-f]{40,64})$/m.exec(message)?.[1];
  return found as Commit | undefined;
}

function readGroupMark(file: string): GroupMark | undefined {
  try {
    const mark = JSON.parse(readOwnFile(file) ?? 'null') as GroupMark | null;
    return mark !== null && Number.isInteger(mark.pgid) && mark.pgid > 1 && Number.isInteger(mark.start) && typeof mark.boot === 'string' ? mark : undefined;
  } catch {
    return undefined;
  }
}

/** The last lines of a build's log, for the pusher. */
function tail(lines: readonly string[], n = 15): string[] {
  return lines.slice(-n);
}

/**
 * The build commit for `source`: reused when it was built before (a rollback, a redeploy), else
 * built now. A failed build (non-zero exit, timeout, missing or empty output) throws, and nothing
 * is deployed; the pusher sees the last lines of the log and where the whole log is.
 */
export async function buildFor(ctx: Context, build: Build, source: Commit): Promise<BuildFacts> {
  const reused = await builtBefore(ctx, source);
  if (reused !== undefined) {
    ctx.reporter.note(`build of ${source.slice(0, 10)}: reused (${reused.slice(0, 10)}), nothing rebuilt`);
    return { source, commit: reused, reused: true, durationMs: 0 };
  }
  const { config, log } = ctx;
  const started = performance.now();
  const dir = ownSubdir(config.stateDir, 'build');
  const tree = path.join(dir, 'tree');
  const holdingFile = path.join(dir, 'holding');
  const logFile = path.join(ownSubdir(config.stateDir, 'builds'), `${source}.log`);
  fs.mkdirSync(tree, { recursive: true, mode: 0o755 });
  // a build whose fanout died (killed, the machine out of memory) runs on in its own process group
  // and would write into the tree this build uses: it is stopped first; what it made is discarded
  // (its ref is written last, so it has none)
  const runningFile = path.join(dir, 'running');
  const leftover = readGroupMark(runningFile);
  if (leftover !== undefined) {
    const stopped = await stopLeftoverGroup(leftover);
    if (stopped > 0) {
      log.warn({ pgid: leftover.pgid, processes: stopped }, 'stopped a build an earlier fanout left running');
      ctx.reporter.note(`build: stopped ${stopped} process${stopped === 1 ? '' : 'es'} of an earlier build whose fanout died; that build is discarded`);
    }
    fs.rmSync(runningFile, { force: true });
  }

  // the worktree moves to the commit as the source does: only the changed paths when it is known
  const heldText = readOwnFile(holdingFile)?.trim();
  const held = heldText !== undefined && /^[0-9a-f]{40,64}$/.test(heldText) ? (heldText as Commit) : undefined;
  const diff = held === undefined ? undefined : await changedPaths(config.repo, held, source, log, 20_000).catch(() => undefined);
  fs.rmSync(holdingFile, { force: true });
  await checkout(config.repo, tree, source, diff?.changes ?? 'all', path.join(dir, 'checkout.index'), log, diff?.changes === undefined ? { keep: [...build.cache.map((c) => `/${c}`), `/${build.output}`] } : undefined);
  writeAtomically(holdingFile, `${source}\n`);

  // stale output never ships: the build writes its output afresh
  const output = path.join(tree, build.output);
  fs.rmSync(output, { recursive: true, force: true });
  const lines: string[] = [];
  const logFd = openOwnFile(logFile, 'write');
  const said = (line: string): void => {
    lines.push(line);
    fs.writeSync(logFd, `${line}\n`);
    ctx.reporter.buildLine(line);
  };
  const [program, args] = typeof build.command === 'string' ? ['sh', ['-c', build.command]] : [build.command[0] ?? '', build.command.slice(1)];
  ctx.reporter.note(`build of ${source.slice(0, 10)}: ${typeof build.command === 'string' ? build.command : build.command.join(' ')}`);
  let result;
  try {
    const onSpawn = (pid: number): void => {
      const mark = markGroup(pid);
      if (mark !== undefined) writeAtomically(runningFile, `${JSON.stringify(mark)}\n`);
    };
    result = await run(program, args, { cwd: tree, env: { ...childEnvironment(), ...build.env }, timeoutMs: build.timeoutMs, killGroup: true, log, onLine: said, onStderrLine: said, onSpawn });
  } finally {
    fs.closeSync(logFd);
  }
  // a command that leaves children behind (a server started in the background) does not keep them
  const group = readGroupMark(runningFile);
  if (group !== undefined) await stopLeftoverGroup(group);
  fs.rmSync(runningFile, { force: true });
  const durationMs = Math.round(performance.now() - started);
  const why =
    result.spawnError ??
    (result.timedOut
      ? `it did not finish within ${build.timeoutMs / 1000}s (build.timeout)`
      : result.exitCode !== 0
        ? `exit ${result.exitCode}`
        : !fs.existsSync(output)
          ? `it left no ${build.output}/ (build.output)`
          : // a symlink there would have git record whatever it points to
            !fs.lstatSync(output).isDirectory()
            ? `${build.output} is not a directory (a symlink, say), and only a directory is committed`
          : fs.readdirSync(output).length === 0
            ? `${build.output}/ is empty`
            : undefined);
  if (why !== undefined) {
    ctx.reporter.note(`build of ${source.slice(0, 10)} FAILED (${why}); its last lines:`);
    for (const line of tail(lines)) ctx.reporter.note(`  ${line}`);
    throw new FanoutError(`the build of ${source.slice(0, 10)} failed: ${why}; nothing was deployed. The whole log: ${logFile}`, 1);
  }

  // the output, committed with an index of fanout's own: every build kept, deduplicated by git
  const index = { GIT_INDEX_FILE: path.join(dir, 'output.index'), GIT_WORK_TREE: output };
  fs.rmSync(index.GIT_INDEX_FILE, { force: true });
  await git(ctx, ['add', '--all', '--force', '--', '.'], index, output);
  const treeId = await git(ctx, ['write-tree'], index);
  const info = await commitInfo(config.repo, source);
  const command = typeof build.command === 'string' ? build.command : build.command.join(' ');
  const message = `${info.subject}\n\nfanout-build-of: ${source}\nfanout-build-command: ${command}\nfanout-built-at: ${new Date().toISOString()}\nfanout-build-ms: ${durationMs}\n`;
  const identity = { GIT_AUTHOR_NAME: 'fanout', GIT_AUTHOR_EMAIL: 'fanout@localhost', GIT_COMMITTER_NAME: 'fanout', GIT_COMMITTER_EMAIL: 'fanout@localhost' };
  const commit = (await git(ctx, ['commit-tree', treeId, '-m', message], identity)) as Commit;
  await git(ctx, ['update-ref', `${REF}${source}`, commit]);
  ctx.reporter.note(`build of ${source.slice(0, 10)}: done in ${(durationMs / 1000).toFixed(1)}s, ${commit.slice(0, 10)}`);
  log.info({ source, build: commit, durationMs }, 'built');
  return { source, commit, reused: false, durationMs };
}

/**
 * build.keep: build refs no target, slot or the source holds, and not among the last `keep`
 * deploys, are deleted; git's own gc then reclaims what nothing else keeps.
 */
export async function pruneBuilds(ctx: Context, keep: number, state: State, history: readonly HistoryEntry[]): Promise<number> {
  const held = new Set<string>();
  const add = (c: string | null | undefined): void => {
    if (c != null) held.add(c);
  };
  add(state.source.commit);
  for (const t of Object.values(state.targets)) {
    add(t.commit);
    for (const c of t.attempted) add(c);
    for (const s of Object.values(t.slots ?? {})) add(s.commit);
  }
  for (const e of history.filter((h) => h.dryRun !== true).slice(-keep)) add(e.commit);
  const refs = (await git(ctx, ['for-each-ref', '--format=%(refname) %(objectname)', REF])).split('\n').filter((l) => l !== '');
  let pruned = 0;
  for (const line of refs) {
    const [ref = '', commit = ''] = line.split(' ');
    if (held.has(commit)) continue;
    await git(ctx, ['update-ref', '-d', ref]);
    pruned += 1;
  }
  if (pruned > 0) ctx.log.info({ pruned }, 'build refs pruned');
  return pruned;
}

/**
 * Builds and watch: watch mirrors the source directory, which with a build holds built output; only
 * a directory named in watch.path (one no build writes) is mirrored as it is.
 */
export function refuseWatchWithBuild(config: Config): void {
  if (config.build !== undefined && config.watch.path === undefined) {
    throw new FanoutError('fanout watch mirrors the source directory, but with build: it holds built output, not the site\'s sources: edit the sources and push instead (watch is for sites without a build), or name a directory no build writes in watch.path to mirror it as it is');
  }
}
