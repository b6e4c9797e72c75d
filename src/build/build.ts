import type { Build, Config } from '../base/config.js';
import { FanoutError } from '../base/errors.js';
import type { Commit } from '../base/git.js';
import type { HistoryEntry } from '../engine/journal.js';
import type { Context } from '../engine/context.js';
import { builtBefore, commitExists, isBuild, keepBuildBy, recordBuild, refToKeepAgain, sourceOfBuild } from './build-commits.js';
import { commandFailure, commandText, runBuildCommand } from './build-command.js';
import { buildPlaces, checkOutForBuild, clearOutput, outputProblem, refuseSymlinkAboveOutput } from './worktree.js';

/**
 * Builds on the update server (`build:` in the config): the pushed commit is checked out into a
 * worktree of fanout's own under the state directory (never the bare repository's HEAD or index),
 * incrementally, the cache paths kept; the command runs there with a clean environment plus
 * `build.env`; its output is committed into the bare repository as a build commit under
 * `refs/fanout/builds/<source sha>`, with an index of fanout's own, so git stores every build
 * deduplicated. From there the engine deploys build commits like any others.
 */

/** What a deploy knows of its build: the source commit, the build commit, and whether it was reused. */
export interface BuildFacts {
  source: Commit;
  commit: Commit;
  reused: boolean;
  durationMs: number;
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
    const ref = await refToKeepAgain(ctx, recorded, commit);
    if (!dryRun) await keepBuildBy(ctx, ref, commit);
    ctx.reporter.note(`build of ${recorded.slice(0, 10)}: reused (${commit.slice(0, 10)}${dryRun ? '' : ', kept again'}), nothing rebuilt`);
    return { source: recorded, commit, reused: true, durationMs: 0 };
  }
  const source = recorded ?? commit;
  if (dryRun && (await builtBefore(ctx, source)) === undefined) {
    throw new FanoutError(`dry run: ${source.slice(0, 10)} has not been built yet, and a dry run builds nothing; fanout deploy builds it`);
  }
  return buildFor(ctx, build, source);
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
  const commit = await recordBuild(ctx, source, output, places.outputIndex, commandText(build), durationMs);
  ctx.reporter.note(`build of ${source.slice(0, 10)}: done in ${(durationMs / 1000).toFixed(1)}s, ${commit.slice(0, 10)}`);
  ctx.log.info({ source, build: commit, durationMs }, 'built');
  return { source, commit, reused: false, durationMs };
}

/** A failed build: the pusher sees why, the last lines of its log and where the whole log is; nothing is deployed. */
function failBuild(ctx: Context, source: Commit, why: string, lines: readonly string[], logFile: string): never {
  ctx.reporter.note(`build of ${source.slice(0, 10)} FAILED (${why}); its last lines:`);
  for (const line of tail(lines)) ctx.reporter.note(`  ${line}`);
  throw new FanoutError(`the build of ${source.slice(0, 10)} failed: ${why}; nothing was deployed. The whole log: ${logFile}`, 1);
}

/** The last lines of a build's log, for the pusher. */
function tail(lines: readonly string[], n = 15): string[] {
  return lines.slice(-n);
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
