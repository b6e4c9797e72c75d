import fs from 'node:fs';
import path from 'node:path';
import { FanoutError } from '../base/errors.js';
import { run } from '../base/exec.js';
import { commitInfo, gitEnv, inQuarantine, type Commit } from '../base/git.js';
import type { Logger } from '../base/log.js';
import { ownSubdir } from '../base/trust.js';
import { isDeploy, Journal, type HistoryEntry, type State } from '../engine/journal.js';
import type { Context } from '../engine/context.js';

// The build commits in the bare repository: a build's output committed with an index of fanout's
// own, kept by a ref under refs/fanout/builds/ named for its source commit, so git stores every
// build deduplicated; looked up by source, read back for their source, kept again, and pruned
// (build.keep) together with their logs.

const REF = 'refs/fanout/builds/';

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

export async function commitExists(ctx: Context, commit: Commit): Promise<boolean> {
  const result = await run('git', ['cat-file', '-e', '--end-of-options', `${commit}^{commit}`], { env: gitEnv(ctx.config.repo), log: ctx.log });
  return result.exitCode === 0;
}

/** Whether a commit is itself a build: a ref of fanout's points at it. */
export async function isBuild(ctx: Context, commit: Commit): Promise<boolean> {
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

/** The ref a build commit whose ref build.keep pruned is kept by again, built from `source`. */
export async function refToKeepAgain(ctx: Context, source: Commit, commit: Commit): Promise<string> {
  // its own ref again, unless the source was built anew since: then one beside it, which the
  // source's own build keeps its name
  return (await builtBefore(ctx, source)) === undefined ? `${REF}${source}` : `${REF}${source}.${commit}`;
}

/**
 * A build commit kept by its ref. In git's pre-receive hook (push: pre-receive) git refuses every
 * ref update: the build commit waits in the push's quarantine, and the post-receive hook keeps it
 * once git has accepted the push (keepAcceptedBuild); a rejected push's build goes with it.
 */
export async function keepBuildBy(ctx: Context, ref: string, commit: Commit): Promise<void> {
  if (inQuarantine(ctx.config.repo)) return;
  await git(ctx, ['update-ref', ref, commit]);
}

/** After git accepted a push deployed from its pre-receive hook: the build deployed, kept by its ref (see keepBuildBy). */
export async function keepAcceptedBuild(ctx: Context, build: { source: Commit; commit: Commit }): Promise<void> {
  if ((await builtBefore(ctx, build.source)) === build.commit || !(await commitExists(ctx, build.commit))) return;
  await keepBuildBy(ctx, await refToKeepAgain(ctx, build.source, build.commit), build.commit);
}

/** The output, committed with an index of fanout's own: every build kept, deduplicated by git. */
export async function recordBuild(ctx: Context, source: Commit, output: string, indexFile: string, command: string, durationMs: number): Promise<Commit> {
  const index = { GIT_INDEX_FILE: indexFile, GIT_WORK_TREE: output };
  fs.rmSync(index.GIT_INDEX_FILE, { force: true });
  await git(ctx, ['add', '--all', '--force', '--', '.'], index, output);
  const treeId = await git(ctx, ['write-tree'], index);
  const info = await commitInfo(ctx.config.repo, source);
  const message = buildMessage(info.subject, source, command, new Date(), durationMs);
  const identity = { GIT_AUTHOR_NAME: 'fanout', GIT_AUTHOR_EMAIL: 'fanout@localhost', GIT_COMMITTER_NAME: 'fanout', GIT_COMMITTER_EMAIL: 'fanout@localhost' };
  const commit = (await git(ctx, ['commit-tree', treeId, '-m', message], identity)) as Commit;
  await keepBuildBy(ctx, `${REF}${source}`, commit);
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
  // no ref may go while git holds a push in quarantine: the post-receive hook prunes once it is accepted
  if (inQuarantine(ctx.config.repo)) return 0;
  const held = new Set<string>();
  heldBuilds(held, keep, state, history);
  // the stages share the repository and its build refs: what another stage holds stays too
  for (const other of ctx.config.otherStages) {
    if (!fs.existsSync(other.stateDir)) continue;
    const journal = Journal.open(other.stateDir);
    heldBuilds(held, keep, journal.state, journal.readHistory());
  }
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

/** The commits a farm holds (its source, each target and slot, the last `keep` deploys), added to `held`. */
function heldBuilds(held: Set<string>, keep: number, state: State, history: readonly HistoryEntry[]): void {
  const add = (c: string | null | undefined): void => {
    if (c != null) held.add(c);
  };
  add(state.source.commit);
  for (const t of Object.values(state.targets)) {
    add(t.commit);
    for (const c of t.attempted) add(c);
    for (const s of Object.values(t.slots ?? {})) add(s.commit);
  }
  // the last `keep` deploys that sent something: a failed one (a build that failed) or a refusal names no build
  for (const e of history.filter((h) => h.dryRun !== true && h.error === undefined && isDeploy(h)).slice(-keep)) add(e.commit);
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
