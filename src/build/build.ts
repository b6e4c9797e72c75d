import fs from 'node:fs';
import path from 'node:path';
import type { Build, Config } from '../base/config.js';
import { FanoutError } from '../base/errors.js';
import { childEnvironment, run, type ExecResult } from '../base/exec.js';
import { checkout, commitInfo, firstUnsafeName, gitEnv, type Commit } from '../base/git.js';
import { bytesOf, shortPath } from '../base/paths.js';
import type { HistoryEntry, State } from '../engine/journal.js';
import { openOwnFile, ownSubdir } from '../base/trust.js';
import type { Logger } from '../base/log.js';
import type { Context } from '../engine/passes.js';

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
async function builtBefore(ctx: Context, source: Commit): Promise<Commit | undefined> {
  const result = await run('git', ['rev-parse', '--verify', '--quiet', '--end-of-options', `${REF}${source}^{commit}`], { env: gitEnv(ctx.config.repo), log: ctx.log });
  return result.exitCode === 0 ? (result.stdout.trim() as Commit) : undefined;
}

/**
 * The build a deploy of `commit` sends. A build commit is itself (a rollback by history or a sync
 * names one). One whose ref build.keep pruned is kept by its ref again, the history saying which
 * source it was built from; once git's gc has reclaimed it, it is built again from that source. A
 * source commit's build is reused when it was built before, else made now.
 */
export async function buildToDeploy(ctx: Context, build: Build, commit: Commit, history: () => readonly HistoryEntry[], dryRun: boolean): Promise<BuildFacts> {
  if (await isBuild(ctx, commit)) return { source: (await sourceOfBuild(ctx.config.repo, commit, ctx.log)) ?? commit, commit, reused: true, durationMs: 0 };
  const recorded = history().findLast((e) => e.commit === commit && e.build !== undefined)?.build?.source;
  if (recorded !== undefined && (await commitExists(ctx, commit))) {
    // its own ref again, unless the source was built anew since: then one beside it, which the
    // source's own build keeps its name
    const ref = (await builtBefore(ctx, recorded)) === undefined ? `${REF}${recorded}` : `${REF}${recorded}.${commit}`;
    if (!dryRun) await git(ctx, ['update-ref', ref, commit]);
    ctx.reporter.note(`build of ${recorded.slice(0, 10)}: reused (${commit.slice(0, 10)}${dryRun ? '' : ', kept again'}), nothing rebuilt`);
    return { source: recorded, commit, reused: true, durationMs: 0 };
  }
  const source = recorded ?? commit;
  if (dryRun && (await builtBefore(ctx, source)) === undefined) {
    throw new FanoutError(`dry run: ${source.slice(0, 10)} has not been built yet, and a dry run builds nothing; fanout deploy builds it`);
  }
  return buildFor(ctx, build, source);
}

async function commitExists(ctx: Context, commit: Commit): Promise<boolean> {
  const result = await run('git', ['cat-file', '-e', '--end-of-options', `${commit}^{commit}`], { env: gitEnv(ctx.config.repo), log: ctx.log });
  return result.exitCode === 0;
}

/** Whether a commit is itself a build: a ref of fanout's points at it. */
async function isBuild(ctx: Context, commit: Commit): Promise<boolean> {
  const result = await run('git', ['for-each-ref', `--points-at=${commit}`, '--format=%(refname)', REF], { env: gitEnv(ctx.config.repo), log: ctx.log });
  return result.exitCode === 0 && result.stdout.trim() !== '';
}

/**
 * The source commit a build commit was made from: the `fanout-build-of:` line that follows its
 * subject (the source's, one line), never a line of the subject itself.
 */
export async function sourceOfBuild(repo: string, build: Commit, log: Logger): Promise<Commit | undefined> {
  const message = await run('git', ['log', '-1', '--format=%B', '--end-of-options', build], { env: gitEnv(repo), log });
  return message.exitCode === 0 ? buildOf(message.stdout) : undefined;
}

export function buildOf(message: string): Commit | undefined {
  return /^[^\n]*\n\nfanout-build-of: ([0-9a-f]{40}|[0-9a-f]{64})\n/.exec(message)?.[1] as Commit | undefined;
}

/** A build whose output lies below a symlink or a file (in the commit, or made by the build) is refused. */
function refuseSymlinkAboveOutput(tree: string, output: string, source: Commit): void {
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

/**
 * What the build command runs with: where programs are, the home its tools keep their caches in,
 * the locale, and `build.env`. Never the ssh agent of an operator who deploys by hand: the build
 * runs code from the commit.
 */
export function buildEnvironment(build: Pick<Build, 'env'>, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const inherited = childEnvironment(from);
  delete inherited.SSH_AUTH_SOCK;
  return { ...inherited, ...build.env };
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
  const started = performance.now();
  const places = buildPlaces(ctx.config.stateDir, source);
  await checkOutForBuild(ctx, build, source, places);
  const output = clearOutput(places.tree, build.output, source);
  const { result, lines } = await runBuildCommand(ctx, build, source, places);
  const durationMs = Math.round(performance.now() - started);
  // what the build made of the tree: git adds what it finds through a symlink above the output
  refuseSymlinkAboveOutput(places.tree, build.output, source);
  const why = commandFailure(build, result) ?? outputProblem(build.output, output);
  if (why !== undefined) failBuild(ctx, source, why, lines, places.logFile);
  const commit = await recordBuild(ctx, source, output, path.join(places.dir, 'output.index'), commandText(build), durationMs);
  ctx.reporter.note(`build of ${source.slice(0, 10)}: done in ${(durationMs / 1000).toFixed(1)}s, ${commit.slice(0, 10)}`);
  ctx.log.info({ source, build: commit, durationMs }, 'built');
  return { source, commit, reused: false, durationMs };
}

/** Where a build happens, under the state directory: its worktree, its scratch indexes beside it, and its log. */
interface BuildPlaces {
  dir: string;
  tree: string;
  logFile: string;
}

function buildPlaces(stateDir: string, source: Commit): BuildPlaces {
  const dir = ownSubdir(stateDir, 'build');
  const tree = path.join(dir, 'tree');
  const logFile = path.join(ownSubdir(stateDir, 'builds'), `${source}.log`);
  fs.mkdirSync(tree, { recursive: true, mode: 0o755 });
  return { dir, tree, logFile };
}

async function checkOutForBuild(ctx: Context, build: Build, source: Commit, places: BuildPlaces): Promise<void> {
  const { config, log } = ctx;
  // every name is checked before anything is written (invariant 8), as for a deploy
  const unsafe = await firstUnsafeName(config.repo, source, log);
  if (unsafe !== undefined) throw new FanoutError(`commit ${source.slice(0, 10)} names ${unsafe.problem}: "${shortPath(unsafe.path)}"; refusing to build it, nothing was touched`);

  // The worktree is made to hold exactly the commit, but for the cache paths: what an earlier build
  // left (a staging directory, a file it edited in place) never reaches this one. git compares
  // contents and writes only the files that differ, so an unchanged page keeps its time.
  await checkout(config.repo, places.tree, source, 'all', path.join(places.dir, 'checkout.index'), log, {
    keep: [...build.cache.map((c) => `/${c}`), `/${build.output}`],
    keepDirectories: build.cache.map(bytesOf),
    refresh: true,
  });
}

/**
 * Stale output never ships: the build writes its output afresh; never through a symlink the
 * commit put above it (`_build -> /var/www` would have fanout empty /var/www/html).
 */
function clearOutput(tree: string, output: string, source: Commit): string {
  const dir = path.join(tree, output);
  refuseSymlinkAboveOutput(tree, output, source);
  fs.rmSync(dir, { recursive: true, force: true });
  return dir;
}

/** The build command as the operator wrote it, for the pusher and the build commit's message. */
function commandText(build: Pick<Build, 'command'>): string {
  return typeof build.command === 'string' ? build.command : build.command.join(' ');
}

/** Runs the build command in the worktree, every line of its output to its log and the pusher. */
async function runBuildCommand(ctx: Context, build: Build, source: Commit, places: BuildPlaces): Promise<{ result: ExecResult; lines: string[] }> {
  const lines: string[] = [];
  const logFd = openOwnFile(places.logFile, 'write');
  const said = (line: string): void => {
    lines.push(line);
    fs.writeSync(logFd, `${line}\n`);
    ctx.reporter.buildLine(line);
  };
  const [program, args] = typeof build.command === 'string' ? ['sh', ['-c', build.command]] : [build.command[0] ?? '', build.command.slice(1)];
  ctx.reporter.note(`build of ${source.slice(0, 10)}: ${commandText(build)}`);
  try {
    // its whole process group goes at the timeout, and with the command: a server it started in
    // the background does not stay (one whose fanout died is stopped by the lock's next holder)
    const result = await run(program, args, { cwd: places.tree, env: buildEnvironment(build), timeoutMs: build.timeoutMs, killGroup: true, log: ctx.log, onLine: said, onStderrLine: said });
    return { result, lines };
  } finally {
    fs.closeSync(logFd);
  }
}

/** Why the build command failed, if it did: it could not start, ran out of time, or exited non-zero. */
export function commandFailure(build: Pick<Build, 'timeoutMs'>, result: Pick<ExecResult, 'spawnError' | 'timedOut' | 'exitCode'>): string | undefined {
  return (
    result.spawnError ??
    (result.timedOut ? `it did not finish within ${build.timeoutMs / 1000}s (build.timeout)` : result.exitCode !== 0 ? `exit ${result.exitCode}` : undefined)
  );
}

/** What is wrong with the output a build left, if anything: only a directory with something in it is committed. */
function outputProblem(name: string, output: string): string | undefined {
  return !fs.existsSync(output)
    ? `it left no ${name}/ (build.output)`
    : // a symlink there would have git record whatever it points to
      !fs.lstatSync(output).isDirectory()
      ? `${name} is not a directory (a symlink, say), and only a directory is committed`
      : fs.readdirSync(output).length === 0
        ? `${name}/ is empty`
        : undefined;
}

/** A failed build: the pusher sees why, the last lines of its log and where the whole log is; nothing is deployed. */
function failBuild(ctx: Context, source: Commit, why: string, lines: readonly string[], logFile: string): never {
  ctx.reporter.note(`build of ${source.slice(0, 10)} FAILED (${why}); its last lines:`);
  for (const line of tail(lines)) ctx.reporter.note(`  ${line}`);
  throw new FanoutError(`the build of ${source.slice(0, 10)} failed: ${why}; nothing was deployed. The whole log: ${logFile}`, 1);
}

/** The output, committed with an index of fanout's own: every build kept, deduplicated by git. */
async function recordBuild(ctx: Context, source: Commit, output: string, indexFile: string, command: string, durationMs: number): Promise<Commit> {
  const index = { GIT_INDEX_FILE: indexFile, GIT_WORK_TREE: output };
  fs.rmSync(index.GIT_INDEX_FILE, { force: true });
  await git(ctx, ['add', '--all', '--force', '--', '.'], index, output);
  const treeId = await git(ctx, ['write-tree'], index);
  const info = await commitInfo(ctx.config.repo, source);
  const message = buildMessage(info.subject, source, command, new Date(), durationMs);
  const identity = { GIT_AUTHOR_NAME: 'fanout', GIT_AUTHOR_EMAIL: 'fanout@localhost', GIT_COMMITTER_NAME: 'fanout', GIT_COMMITTER_EMAIL: 'fanout@localhost' };
  const commit = (await git(ctx, ['commit-tree', treeId, '-m', message], identity)) as Commit;
  await git(ctx, ['update-ref', `${REF}${source}`, commit]);
  return commit;
}

/** A build commit's message: the source's subject (one line), then the source line buildOf reads, and how it was built. */
export function buildMessage(subject: string, source: Commit, command: string, builtAt: Date, durationMs: number): string {
  return `${subject}\n\nfanout-build-of: ${source}\nfanout-build-command: ${command}\nfanout-built-at: ${builtAt.toISOString()}\nfanout-build-ms: ${durationMs}\n`;
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
  // the last `keep` deploys that sent something: a failed one (a build that failed) names no build
  for (const e of history.filter((h) => h.dryRun !== true && h.error === undefined).slice(-keep)) add(e.commit);
  const refs = (await git(ctx, ['for-each-ref', '--format=%(refname) %(objectname)', REF])).split('\n').filter((l) => l !== '');
  const kept = new Set<string>();
  let pruned = 0;
  for (const line of refs) {
    const [ref = '', commit = ''] = line.split(' ');
    if (held.has(commit)) {
      kept.add(ref.slice(REF.length));
      continue;
    }
    await git(ctx, ['update-ref', '-d', ref]);
    pruned += 1;
  }
  if (pruned > 0) ctx.log.info({ pruned }, 'build refs pruned');
  pruneBuildLogs(ctx.config.stateDir, keep, kept);
  return pruned;
}

/**
 * The build logs go with their builds: a log is kept while its build's ref is, and the newest
 * `keep` others (failed builds, whose logs say why) besides.
 */
function pruneBuildLogs(stateDir: string, keep: number, builtSources: ReadonlySet<string>): void {
  const dir = ownSubdir(stateDir, 'builds');
  const others = fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.log') && !builtSources.has(name.slice(0, -'.log'.length)))
    .map((name) => ({ name, mtime: fs.lstatSync(path.join(dir, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const { name } of others.slice(keep)) fs.rmSync(path.join(dir, name), { force: true });
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
