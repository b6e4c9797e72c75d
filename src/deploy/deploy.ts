import type { Config, Target } from '../base/config.js';
import { planDeploy, type DeployAsk } from './deploy-plan.js';
import { FanoutError, Refusal } from '../base/errors.js';
import { findProgram } from '../base/exec.js';
import { branchTip, commitInfo, resolveCommit, type Commit } from '../base/git.js';
import { Journal, type HistoryEntry, type Reason, type State } from '../engine/journal.js';
import { acquireLock, type Lock } from '../engine/lock.js';
import { describeFreeze, frozenRefusal, readFreeze } from '../engine/freeze.js';
import { previousDeploy } from './rollback.js';
import { deployFailed, deployRefused, pushRejected } from '../engine/state.js';
import type { Context } from '../engine/context.js';
import { shortCommit } from '../engine/report.js';
import { buildToDeploy, type BuildFacts } from '../build/build.js';
import { pruneBuilds } from '../build/build-commits.js';
import { runHook, type HookFacts } from '../releases/operator-hooks.js';
import { applyDeploy } from './apply.js';
import { renderDryRun } from './dry-run.js';
import { readFacts } from './read-facts.js';
import { accountName, describeIdentity, identify, whoOf } from './identity.js';
import { historyEntry, hookFacts, hookFactsOf, record, recordRefusal, type Started } from './record.js';
import { assertBranchUnmoved, markAccepted, pushSucceeded, settleAccepted, targetsToRestore, type GatedPush } from './push-gate.js';

/**
 * Which commit to deploy, decided once the lock is held: the branch tip as it stands then, any
 * revision git resolves, the deploy before the current one (rollback), or what the source holds (sync).
 */
export type Revision = { kind: 'tip' } | { kind: 'rev'; rev: string } | { kind: 'previous' } | { kind: 'source' };


export interface DeployRequest {
  revision: Revision;
  reason: Reason;
  startedBy: string;
  /** the person behind it (deploy/identity.ts), for the metrics and the hooks */
  user?: string;
  /** why this deploy, as the pusher said it (git push -o message=...) */
  message?: string;
  /** the operator's deploy lock this deploy went through (--override-lock), as it read */
  overrodeLock?: string;
}

export interface DeployOptions {
  dryRun: boolean;
  /** target names to deploy to; all when empty */
  targets: readonly string[];
  /** a full rsync --delete pass instead of the changed paths */
  full: boolean;
  /** with `full`: compare contents (the default for a pass an operator asks for), else size and time */
  checksum?: boolean;
  /** paths changed in the source outside git (watch): sent to every target besides its own plan */
  outsidePaths?: readonly string[];
  /** sync even from an empty source (which empties every target) */
  allowEmpty?: boolean;
  /** this deploy's bound on deletions per target, instead of the config's maxDelete */
  maxDelete?: number;
  /** skip the checks and the rollout (an automatic rollback: it must not gate itself) */
  unchecked?: boolean;
  /** run the after and onFailure hooks (an automatic rollback's run once the failed deploy's have) */
  afterHooks?: boolean;
  /** send a release a check failed on to more hosts all the same */
  force?: boolean;
  /**
   * Do nothing, and record nothing, when every target already has the commit: a push that waited
   * for the lock while a later push of the same burst deployed the tip. Returns undefined then.
   */
  coalesce?: boolean;
  /** go through the operator's deploy lock (fanout lock), recorded with the deploy */
  overrideLock?: boolean;
  /**
   * push: pre-receive: a push git accepts only if this deploy succeeds. The branch must still be
   * where the push found it; a deploy that fails puts the targets it changed back on what the
   * farm served before, so the rejected push leaves the farm as it was.
   */
  gated?: GatedPush;
}

/**
 * The engine behind push, deploy, rollback and sync, in three steps under the lock: read the facts
 * (journal, commit, diffs, the kinds of the paths the plans name), plan the whole deploy from them
 * (deploy-plan.ts, pure), then apply it: check out, ask rsync about the riskiest passes, then for
 * each target in parallel run its passes, recording each outcome as it lands. A dry run renders
 * the same plan and the same decisions instead of applying them.
 */
export async function deploy(ctx: Context, request: DeployRequest, options: DeployOptions): Promise<HistoryEntry | undefined> {
  const { config } = ctx;
  const targets = selectTargets(config, options.targets);
  try {
    const lock = await takeLock(ctx, `${request.reason} by ${request.startedBy}`);
    try {
      if (options.gated !== undefined) await assertBranchUnmoved(ctx, options.gated);
      // a deploy of the branch tip, right after a push was accepted, deploys the tip git is writing
      else if (request.revision.kind === 'tip' && config.pushMode === 'pre-receive') await settleAccepted(ctx);
      const entry = await deployLocked(ctx, request, options, targets);
      if (options.gated !== undefined && entry !== undefined && pushSucceeded(config, entry)) markAccepted(config, options.gated);
      return entry;
    } finally {
      // the textfile says what the journal says now, whatever became of this deploy
      if (!options.dryRun) for (const warning of await ctx.publish()) ctx.reporter.note(`warning: ${warning}`);
      lock.release();
    }
  } finally {
    // however it ended (a refusal, the lock's timeout): the progress line goes, and its timer
    ctx.reporter.progress({ kind: 'idle' });
  }
}

/** One deploy, the lock held: read, plan, apply (or render). */
async function deployLocked(ctx: Context, request: DeployRequest, options: DeployOptions, targets: readonly Target[]): Promise<HistoryEntry | undefined> {
  const { config, log } = ctx;
  const journal = Journal.open(config.stateDir);
  if (journal.warning !== undefined) {
    log.warn(journal.warning);
    ctx.reporter.note(`warning: ${journal.warning}`);
  }
  const commit = await chooseCommit(config, journal, request.revision);
  const at = new Date();
  const id = journal.state.nextDeployId;
  try {
    return await deployCommit(ctx, journal, throughFreeze(ctx, request, options, commit), options, targets, commit);
  } catch (error) {
    if (!options.dryRun && error instanceof FanoutError) await recordStop(ctx, journal, error, { id, at, commit, request });
    throw error;
  }
}

/**
 * The operator's deploy lock (fanout lock): a deploy is refused while it is taken, unless told to
 * go through it, which its record then says. An automatic rollback belongs to the deploy that
 * needed it, watch mirrors edits made by hand, and a dry run changes nothing: none is stopped.
 */
function throughFreeze(ctx: Context, request: DeployRequest, options: DeployOptions, commit: Commit): DeployRequest {
  if (request.reason === 'auto-rollback' || request.reason === 'watch' || options.dryRun) return request;
  const freeze = readFreeze(ctx.config.stateDir);
  if (freeze === undefined) return request;
  if (options.overrideLock !== true) throw frozenRefusal(freeze, commit.slice(0, 10));
  ctx.reporter.note(`going through the deploy lock (${describeFreeze(freeze)}): --override-lock, recorded with this deploy`);
  ctx.log.warn({ lock: freeze, startedBy: request.startedBy }, 'deploy lock overridden');
  return { ...request, overrodeLock: describeFreeze(freeze) };
}

/**
 * A deploy that stopped before its end was recorded. A refusal (bad input, maxDelete, a release a
 * check failed on) touched nothing and is no deploy: the history (but for watch's) and the log note
 * it, refused, with the line its deployer saw, and the journal for status while that commit is the tip.
 * One that failed (its build, a `before` hook) is a failed deploy all the same: in the history, and
 * so in `history`, the counters and the metrics; one whose checkout failed has recorded itself already.
 */
async function recordStop(ctx: Context, journal: Journal, error: FanoutError, stop: { id: number; at: Date; commit: Commit; request: DeployRequest }): Promise<void> {
  if (journal.state.nextDeployId !== stop.id) return;
  const started: Started = { id: stop.id, at: stop.at, subject: (await commitInfo(ctx.config.repo, stop.commit)).subject, request: stop.request, build: undefined };
  if (error instanceof Refusal || error.exitCode === 2) {
    ctx.log.warn({ commit: stop.commit, reason: stop.request.reason, startedBy: stop.request.startedBy, refused: error.message }, 'deploy refused');
    // watch refuses a batch at a time, maybe one a second: the log and watch's own lines have those
    if (stop.request.reason !== 'watch') {
      await recordRefusal(journal, { ...historyEntry(started, stop.commit, []), refused: error.message });
      return;
    }
    await journal.update((s) => {
      deployRefused(s, stop.commit, error.message, new Date().toISOString());
    });
    return;
  }
  await record(journal, historyEntry(started, stop.commit, [], { error: error.message }), (s) => {
    deployFailed(s, stop.id);
  });
}

/** The deploy of a chosen commit: build it (with build:), read, plan, apply (or render). */
async function deployCommit(ctx: Context, journal: Journal, request: DeployRequest, options: DeployOptions, targets: readonly Target[], chosen: Commit): Promise<HistoryEntry | undefined> {
  const { config, log } = ctx;
  // before a build or a checkout: without rsync every target would fail, each with the same line
  if (findProgram(config.rsync.path) === undefined) throw new FanoutError(`cannot start ${config.rsync.path}: not found (is it installed, and on the PATH?); nothing was touched: apt-get install rsync, or set rsync.path in the config`, 1);
  const before = journal.state.current;
  let commit = chosen;
  // with build: the commit deployed is the source commit's build (made now, or reused); a sync,
  // or a rollback by history, names a build commit already
  let built: BuildFacts | undefined;
  if (config.build !== undefined && request.revision.kind !== 'source') {
    // quiet: the build says itself that it begins
    ctx.reporter.progress({ kind: 'phase', name: 'build', detail: shortCommit(commit), quiet: true });
    built = await buildToDeploy(ctx, config.build, commit, () => journal.readHistory(), options.dryRun);
    commit = built.commit;
  }
  const ask: DeployAsk = {
    full: options.full,
    checksum: options.checksum ?? true,
    outsidePaths: options.outsidePaths ?? [],
    allowEmpty: options.allowEmpty === true,
    maxDelete: options.maxDelete ?? config.maxDelete,
    coalesce: options.coalesce === true,
    force: options.force === true,
  };
  // quiet: in most deploys it takes moments, and a refusal from it is the deploy's one line
  ctx.reporter.progress({ kind: 'phase', name: 'plan', detail: shortCommit(commit), quiet: true });
  // asked now, read once planned: git answers while the facts are read
  const described = commitInfo(config.repo, commit);
  described.catch(() => undefined);
  const facts = await readFacts(ctx, journal.state, commit, targets.map((t) => t.name), ask);
  const plan = planDeploy(ask, facts, config);
  if (plan.kind === 'coalesced') {
    log.info({ commit, deployId: plan.deployId, reason: request.reason }, 'deploy coalesced: already on every target');
    ctx.reporter.note(`fanout: ${commit.slice(0, 10)} is already on every target (deploy #${plan.deployId} took it there); nothing to do`);
    return undefined;
  }
  if (plan.kind === 'refused') throw new Refusal(plan.why, plan.exitCode);
  const info = await described;
  const started: Started = { id: journal.state.nextDeployId, at: new Date(), subject: info.subject, request, build: built };
  log.info({ deployId: started.id, commit, reason: request.reason, startedBy: request.startedBy, user: request.user, message: request.message, dryRun: options.dryRun, concurrency: config.concurrency, source: plan.source?.kind ?? 'holds it', targets: plan.targets.map((t) => ({ name: t.name, from: t.from, pass: t.sync.kind })) }, 'deploy started');
  if (options.dryRun) {
    const entry = await renderDryRun(ctx, plan, started);
    ctx.reporter.deployDone(entry);
    return entry;
  }
  const told = hookFacts(started, plan);
  await runBeforeHook(ctx, told, options.unchecked === true);
  const applied = await applyDeploy(ctx, journal, plan, started, options.unchecked !== true, options.gated !== undefined);
  log.info({ deployId: started.id, commit, targets: applied.entry.targets }, 'deploy finished');
  ctx.reporter.deployDone(applied.entry);
  // a release that failed its check goes back before anything else runs: no hook, however slow,
  // keeps it live a moment longer (invariant 12)
  const { rollback, state } = await putBackFailedRelease(ctx, request, options, journal, applied, before);
  if (config.build !== undefined) await pruneBuilds(ctx, config.build.keep, state, journal.readHistory());
  if (options.afterHooks !== false) await runAfterHooks(ctx, told, applied.entry);
  // the rollback's own hooks after the failed deploy's: they tell the story in its order
  if (rollback !== undefined) await runAfterHooks(ctx, hookFactsOf(rollback), rollback);
  return applied.entry;
}

/**
 * What follows a deploy before any hook runs: the rollback of a release that failed, if it needs
 * one, and a rejected push's commit forgotten (git drops its objects; the deploy before is the
 * current one again). Returns the rollback's entry, and the journal's state as all that left it.
 */
async function putBackFailedRelease(ctx: Context, request: DeployRequest, options: DeployOptions, journal: Journal, applied: { entry: HistoryEntry; took: string[] }, before: State['current']): Promise<{ rollback: HistoryEntry | undefined; state: State }> {
  const rollback = await rollBackFailedRelease(ctx, request, options, journal, applied, before?.commit ?? null);
  if (options.gated === undefined || pushSucceeded(ctx.config, applied.entry)) return { rollback, state: rollback === undefined ? journal.state : Journal.open(ctx.config.stateDir).state };
  const after = Journal.open(ctx.config.stateDir);
  await after.update((s) => {
    pushRejected(s, applied.entry.commit, before);
  });
  return { rollback, state: after.state };
}

/** `before`, which stops the deploy when it fails; an automatic rollback (`unchecked`) is not the operator's to stop. */
async function runBeforeHook(ctx: Context, told: HookFacts, unchecked: boolean): Promise<void> {
  if (unchecked || ctx.config.hooks.before === undefined) return;
  ctx.reporter.progress({ kind: 'phase', name: 'hook', detail: 'before' });
  const stopped = await runHook(ctx, 'before', told);
  if (stopped !== undefined) throw new FanoutError(`${stopped}; nothing was touched`, 1);
}

/** `after` for a deploy that is over, `onFailure` first when it failed; their failures are warnings. */
async function runAfterHooks(ctx: Context, told: HookFacts, entry: HistoryEntry): Promise<void> {
  const failed = entry.targets.some((t) => t.status === 'failed');
  for (const hook of failed ? (['onFailure', 'after'] as const) : (['after'] as const)) {
    const said = await runHook(ctx, hook, { ...told, outcome: failed ? 'failed' : 'ok' });
    if (said !== undefined) ctx.reporter.note(`warning: ${said}`);
  }
}

/**
 * A check failed: with onFailure: rollback, every target that took the release goes back to what
 * the farm served before, by the same engine (a switch alone where a slot still holds it), under
 * the lock this deploy holds. A gated push that failed (push: pre-receive) puts back every target
 * it changed, whatever rollout.onFailure says: git rejects the push. Returns the rollback's
 * history entry, when one ran.
 */
async function rollBackFailedRelease(ctx: Context, request: DeployRequest, options: DeployOptions, journal: Journal, applied: { entry: HistoryEntry; took: string[] }, previous: Commit | null): Promise<HistoryEntry | undefined> {
  const { config } = ctx;
  const { entry, took } = applied;
  const rejected = options.gated !== undefined && !pushSucceeded(config, entry);
  if (!rejected && (entry.rollout?.stopped === undefined || config.rollout.onFailure !== 'rollback')) return undefined;
  const changed = rejected && previous !== null ? targetsToRestore(journal.state, entry, previous) : took;
  if (changed.length === 0) return undefined;
  if (previous === null || previous === entry.commit) {
    ctx.reporter.note(`no earlier release to go back to: ${changed.join(', ')} keep ${entry.commit.slice(0, 10)}`);
    return undefined;
  }
  ctx.reporter.note(`rolling back ${changed.join(', ')} to ${previous.slice(0, 10)} (${rejected ? 'the push is rejected: push: pre-receive' : 'rollout.onFailure: rollback'})`);
  return deployLocked(
    ctx,
    { revision: { kind: 'rev', rev: previous }, reason: 'auto-rollback', startedBy: request.startedBy, ...whoOf(request) },
    { dryRun: false, targets: changed, full: false, unchecked: true, afterHooks: false },
    selectTargets(config, changed),
  );
}

/** The deploy lock, telling the person waiting for it whom they wait for, and for how long. */
export async function takeLock(ctx: Context, purpose: string): Promise<Lock> {
  let waited = false;
  try {
    return await acquireLock(ctx.config.stateDir, ctx.config.lockTimeout, purpose, ctx.log, {
      onWait: (holder) => {
        waited = true;
        ctx.reporter.note(`waiting for the deploy in progress (${holder})`);
        // quiet: the note has said it; the progress line goes on saying it, and for how long
        ctx.reporter.progress({ kind: 'phase', name: 'waiting for the lock', detail: holder, quiet: true });
      },
      onLeftovers: (stopped, holder) => {
        ctx.reporter.note(`stopped ${stopped} process${stopped === 1 ? '' : 'es'} (rsync, git, a build) left running by a fanout that died (${holder}); what it was doing is done again`);
      },
    });
  } finally {
    // the wait is over, however it ended: what follows (a deploy's phases, verify's rows) says where it is
    if (waited) ctx.reporter.progress({ kind: 'idle' });
  }
}

async function chooseCommit(config: Config, journal: Journal, revision: Revision): Promise<Commit> {
  switch (revision.kind) {
    case 'rev':
      return resolveCommit(config.repo, revision.rev);
    case 'tip': {
      if (config.branch === undefined) throw new FanoutError(`stage ${config.stage ?? ''} has no branch: it is promoted into (fanout promote FROM ${config.stage ?? ''}), or name a revision`);
      const tip = await branchTip(config.repo, config.branch);
      if (tip === undefined) throw new FanoutError(`branch "${config.branch}" has no commits in ${config.repo} yet: push to it first`);
      return tip;
    }
    case 'previous': {
      const previous = previousDeploy(journal.readHistory());
      if (previous === undefined) throw new FanoutError('no earlier deploy to roll back to (see fanout history); name a revision: fanout rollback REV');
      return previous;
    }
    case 'source': {
      const held = journal.state.source.commit;
      if (held === null) {
        const why = journal.state.source.untraceable === true && journal.state.source.error !== undefined ? ` (${journal.state.source.error})` : ' yet';
        throw new FanoutError(`the source ${config.source} holds no deployed commit${why}: deploy first (git push, or fanout deploy to put the branch tip back)`);
      }
      return held;
    }
  }
}

export function selectTargets(config: Config, names: readonly string[]): Target[] {
  if (config.targets.length === 0) throw new FanoutError(`config ${config.file}: targets: none configured; add at least one`);
  if (names.length === 0) return config.targets;
  return names.map((name) => {
    const target = config.targets.find((t) => t.name === name);
    if (target === undefined) throw new FanoutError(`unknown target "${name}"; configured: ${config.targets.map((t) => t.name).join(', ')}`);
    return target;
  });
}

/** Who started a deploy, for the history: the person (an ssh key's name, or behind sudo), not only the account it ran as. */
export function whoAmI(env: NodeJS.ProcessEnv = process.env): string {
  return describeIdentity(identify(env, accountName()));
}
