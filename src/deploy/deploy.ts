import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pMap from 'p-map';
import { targetNamed, type Config, type Target } from '../base/config.js';
import { decideTransfers, kindsFromTree, MAX_CHANGES, needsTreeScan, pathsToLookUp, planDeploy, reservedPathsToLookUp, sourcePathsRead, sourceStep, treePathsToLookUp, treeToWrite, type DeployAsk, type DeployFacts, type DeployPlan, type PreflightAnswer, type Since, type SourceStep, type TransferDecision } from './deploy-plan.js';
import type { TargetPlan } from '../engine/target-plan.js';
import { FanoutError, Refusal } from '../base/errors.js';
import { findProgram } from '../base/exec.js';
import { branchTip, changedPaths, checkout, commitInfo, firstUnsafeName, foreignSymlink, isEmptyTree, resolveCommit, switchTree, symlinkAbove, throughSymlink, treeEntryKinds, type Change, type Commit, type Diff, type EntryKind } from '../base/git.js';
import { Journal, type HistoryEntry, type Holding, type Reason, type State, type TargetOutcome } from '../engine/journal.js';
import { acquireLock, type Lock } from '../engine/lock.js';
import type { Logger } from '../base/log.js';
import { bytesOf, displayPath, onDisk, type RelPath } from '../base/paths.js';
import { parentOf, type SyncPlan } from '../engine/sync-plan.js';
import { previousDeploy } from './rollback.js';
import { beginCheckout, beginTransfer, checkoutFailed, checkoutSucceeded, countDeploy, deployFailed, deployFinished, deployRefused, forgetOtherSlots, refusedBeforeTransfer, releaseJudged, sourceHolds, sourceUntraceable, transferFailed, transferSucceeded } from '../engine/state.js';
import { passesOf, rsyncWithRetries, runPasses } from '../engine/passes.js';
import type { Context } from '../engine/context.js';
import { buildToDeploy, pruneBuilds, type BuildFacts } from '../build/build.js';
import { afterSwitch, runHook, type HookFacts } from '../releases/operator-hooks.js';
import { rollOut, type RolloutResult } from '../releases/rollout.js';
import { armSwitch, prepareSlot, stagingOf, switchFarm, writeRevision, writtenTarget, type ArmedSwitch } from '../releases/slots.js';


/**
 * Which commit to deploy, decided once the lock is held: the branch tip as it stands then, any
 * revision git resolves, the deploy before the current one (rollback), or what the source holds (sync).
 */
export type Revision = { kind: 'tip' } | { kind: 'rev'; rev: string } | { kind: 'previous' } | { kind: 'source' };

export type { Context } from '../engine/context.js';

export interface DeployRequest {
  revision: Revision;
  reason: Reason;
  startedBy: string;
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
}

/** Past this many incomplete checkouts the source is rewritten whole. */
const MAX_ATTEMPTED = 20;

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
  const lock = await takeLock(ctx, `${request.reason} by ${request.startedBy}`);
  try {
    return await deployLocked(ctx, request, options, targets);
  } finally {
    // the textfile says what the journal says now, whatever became of this deploy
    if (!options.dryRun) for (const warning of await ctx.publish()) ctx.reporter.note(`warning: ${warning}`);
    lock.release();
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
    return await deployCommit(ctx, journal, request, options, targets, commit);
  } catch (error) {
    if (!options.dryRun && error instanceof FanoutError) await recordStop(journal, error, { id, at, commit, request, config });
    throw error;
  }
}

/**
 * A deploy that stopped before its end was recorded. A refusal (bad input, maxDelete, a release a
 * check failed on) touched nothing and is no deploy: the journal notes it for status, while that
 * commit is the branch tip. One that failed (its build, a `before` hook) is a failed deploy all the
 * same: in the history, and so in `history`, the counters and the metrics; one whose checkout
 * failed has recorded itself already.
 */
async function recordStop(journal: Journal, error: FanoutError, stop: { id: number; at: Date; commit: Commit; request: DeployRequest; config: Config }): Promise<void> {
  if (error instanceof Refusal || error.exitCode === 2) {
    await journal.update((s) => {
      deployRefused(s, stop.commit, error.message, new Date().toISOString());
    });
    return;
  }
  if (journal.state.nextDeployId !== stop.id) return;
  const started: Started = { id: stop.id, at: stop.at, subject: (await commitInfo(stop.config.repo, stop.commit)).subject, request: stop.request, build: undefined };
  await record(journal, historyEntry(started, stop.commit, [], { error: error.message }), (s) => {
    deployFailed(s, stop.id);
  });
}

/** The deploy of a chosen commit: build it (with build:), read, plan, apply (or render). */
async function deployCommit(ctx: Context, journal: Journal, request: DeployRequest, options: DeployOptions, targets: readonly Target[], chosen: Commit): Promise<HistoryEntry | undefined> {
  const { config, log } = ctx;
  // before a build or a checkout: without rsync every target would fail, each with the same line
  if (findProgram(config.rsync.path) === undefined) throw new FanoutError(`cannot start ${config.rsync.path}: not found (is it installed, and on the PATH?); nothing was touched: apt-get install rsync, or set rsync.path in the config`, 1);
  const previous = journal.state.current?.commit ?? null;
  let commit = chosen;
  // with build: the commit deployed is the source commit's build (made now, or reused); a sync,
  // or a rollback by history, names a build commit already
  let built: BuildFacts | undefined;
  if (config.build !== undefined && request.revision.kind !== 'source') {
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
  const facts = await readFacts(ctx, journal.state, commit, targets.map((t) => t.name), ask);
  const plan = planDeploy(ask, facts, config);
  if (plan.kind === 'coalesced') {
    log.info({ commit, deployId: plan.deployId, reason: request.reason }, 'deploy coalesced: already on every target');
    ctx.reporter.note(`fanout: ${commit.slice(0, 10)} is already on every target (deploy #${plan.deployId} took it there); nothing to do`);
    return undefined;
  }
  if (plan.kind === 'refused') throw new Refusal(plan.why, plan.exitCode);
  const info = await commitInfo(config.repo, commit);
  const started: Started = { id: journal.state.nextDeployId, at: new Date(), subject: info.subject, request, build: built };
  log.info({ deployId: started.id, commit, reason: request.reason, startedBy: request.startedBy, dryRun: options.dryRun, source: plan.source?.kind ?? 'holds it', targets: plan.targets.map((t) => ({ name: t.name, from: t.from, pass: t.sync.kind })) }, 'deploy started');
  if (options.dryRun) {
    const entry = await renderDryRun(ctx, plan, started);
    ctx.reporter.deployDone(entry);
    return entry;
  }
  const told = hookFacts(started, plan);
  // an automatic rollback is not the operator's to stop
  const stopped = options.unchecked === true ? undefined : await runHook(ctx, 'before', told);
  if (stopped !== undefined) throw new FanoutError(`${stopped}; nothing was touched`, 1);
  const applied = await applyDeploy(ctx, journal, plan, started, options.unchecked !== true);
  log.info({ deployId: started.id, commit, targets: applied.entry.targets }, 'deploy finished');
  ctx.reporter.deployDone(applied.entry);
  // a release that failed its check goes back before anything else runs: no hook, however slow,
  // keeps it live a moment longer (invariant 12)
  const rollback = await rollBackFailedRelease(ctx, request, applied, previous);
  // the journal's own state, or after a rollback the state it left
  const state = rollback === undefined ? journal.state : Journal.open(config.stateDir).state;
  if (config.build !== undefined) await pruneBuilds(ctx, config.build.keep, state, journal.readHistory());
  if (options.afterHooks !== false) await runAfterHooks(ctx, told, applied.entry);
  // the rollback's own hooks after the failed deploy's: they tell the story in its order
  if (rollback !== undefined) await runAfterHooks(ctx, hookFactsOf(rollback), rollback);
  return applied.entry;
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
 * the lock this deploy holds. Returns the rollback's history entry, when one ran.
 */
async function rollBackFailedRelease(ctx: Context, request: DeployRequest, applied: { entry: HistoryEntry; took: string[] }, previous: Commit | null): Promise<HistoryEntry | undefined> {
  const { config } = ctx;
  const { entry, took } = applied;
  if (entry.rollout?.stopped === undefined || config.rollout.onFailure !== 'rollback' || took.length === 0) return undefined;
  if (previous === null || previous === entry.commit) {
    ctx.reporter.note(`no earlier release to go back to: ${took.join(', ')} keep ${entry.commit.slice(0, 10)}`);
    return undefined;
  }
  ctx.reporter.note(`rolling back ${took.join(', ')} to ${previous.slice(0, 10)} (rollout.onFailure: rollback)`);
  return deployLocked(
    ctx,
    { revision: { kind: 'rev', rev: previous }, reason: 'auto-rollback', startedBy: request.startedBy },
    { dryRun: false, targets: took, full: false, unchecked: true, afterHooks: false },
    selectTargets(config, took),
  );
}

/** What the hooks are told of a deploy. */
function hookFacts(started: Started, plan: PlannedDeploy): HookFacts {
  return { deployId: started.id, commit: plan.commit, reason: started.request.reason, startedBy: started.request.startedBy, targets: plan.targets.map((t) => t.name) };
}

function hookFactsOf(entry: HistoryEntry): HookFacts {
  return { deployId: entry.id, commit: entry.commit, reason: entry.reason, startedBy: entry.startedBy, targets: entry.targets.map((t) => t.name) };
}

/** A deploy under way, for its history entry. */
interface Started {
  id: number;
  at: Date;
  subject: string;
  request: DeployRequest;
  /** with build: the source commit and its build */
  build: BuildFacts | undefined;
}

function historyEntry(started: Started, commit: Commit, targets: TargetOutcome[], more: Partial<HistoryEntry> = {}): HistoryEntry {
  const { request } = started;
  const build = started.build === undefined ? {} : { build: { source: started.build.source, reused: started.build.reused, durationMs: started.build.durationMs } };
  return { id: started.id, startedAt: started.at.toISOString(), finishedAt: new Date().toISOString(), commit, subject: started.subject, reason: request.reason, startedBy: request.startedBy, ...build, ...more, targets };
}

/**
 * The facts a plan takes, read under the lock; nothing is touched. Every diff is checked for names
 * fanout refuses as it is read, and the whole tree when the source will be rewritten whole.
 */
async function readFacts(ctx: Context, state: State, commit: Commit, targets: readonly string[], ask: DeployAsk): Promise<DeployFacts> {
  const { config, log } = ctx;
  const diffs = diffCache(config.repo, log);
  const sourceReady = sourceHolds(state, commit);
  const sourceSince = sourceReady ? undefined : await changesSince(diffs.read, state.source, commit);
  const now = Date.now();
  const targetSince = new Map<string, Since | undefined>();
  for (const name of targets) targetSince.set(name, await changesSince(diffs.read, treeToWrite(ask, { state, commit, now }, config, name), commit));
  let unsafeName = diffs.unsafeName();
  if (unsafeName === undefined && !sourceReady && needsTreeScan(sourceSince)) unsafeName = await firstUnsafeName(config.repo, commit, log);
  // a name git cannot be asked about (4,096 bytes, say) refuses the deploy: read nothing more
  if (unsafeName !== undefined) return { commit, state, targets, sourceSince, targetSince, unsafeName, emptyTree: false, treeKinds: new Map(), kinds: new Map(), now };
  const emptyTree = !sourceReady && (await isEmptyTree(config.repo, commit, log));
  const treeKinds = await treeEntryKinds(config.repo, commit, [...treePathsToLookUp({ sourceSince, targetSince }), ...reservedPathsToLookUp(config)], log);
  const where = kindsFromTree(sourceReady ? undefined : sourceStep(state.source, sourceSince), pathsToLookUp(ask, { state, targets, targetSince, commit, now }, config));
  const kinds = new Map([...(await treeEntryKinds(config.repo, commit, where.tree, log)), ...sourceKinds(config.source, where.source)]);
  return { commit, state, targets, sourceSince, targetSince, unsafeName, emptyTree, treeKinds, kinds, now };
}

type PlannedDeploy = Extract<DeployPlan, { kind: 'deploy' }>;

/** Check out, ask rsync about the riskiest passes, then run every target's passes (with checks: wave by wave). Returns the entry and which targets took the release. */
async function applyDeploy(ctx: Context, journal: Journal, plan: PlannedDeploy, started: Started, checked: boolean): Promise<{ entry: HistoryEntry; took: string[] }> {
  const { config } = ctx;
  await prepareSource(ctx, journal, plan, started);
  const decision = decideTransfers(plan, await askPreflights(ctx, plan), config, false);
  if (decision.refusal !== undefined) throw new Refusal(decision.refusal);
  // With slots, each target's switch is made ready first: its rsync connects while the targets
  // stage, then waits, so that the switch itself is one short exchange on every target at once.
  const armed = new Map<string, ArmedSwitch>();
  for (const target of plan.targets) {
    const slot = target.slots?.switchTo;
    if (slot !== undefined && !decision.failures.has(target.name)) armed.set(target.name, armSwitch(ctx, targetNamed(config, target.name), slot));
  }
  const apply = config.checks !== undefined && checked ? applyRollout : applyInTwoPhases;
  const { outcomes, took, ...more } = await apply(ctx, journal, plan, started, decision, armed);
  const entry = historyEntry(started, plan.commit, outcomes, more);
  await record(journal, entry, (s) => {
    finished(s, plan, started, entry);
  });
  return { entry, took };
}

/** The source brought to the commit, and checked before anything reaches a target. */
async function prepareSource(ctx: Context, journal: Journal, plan: PlannedDeploy, started: Started): Promise<void> {
  if (plan.source !== undefined) {
    try {
      await checkOutSource(ctx, journal, plan.source, plan.commit);
    } catch (error) {
      // a checkout the file system refused is a failed deploy: in the history and in status
      if (error instanceof FanoutError && error.exitCode === 1) {
        await record(journal, historyEntry(started, plan.commit, [], { error: error.message }), (s) => {
          checkoutFailed(s, started.id, error.message);
        });
      }
      throw error;
    }
  }
  if (!plan.allowEmpty) assertSourceNotEmpty(ctx.config.source);
  await assertNoForeignSymlink(ctx, plan, journal);
}

/** What the targets took, for the history entry: each target's outcome, and how the release went. */
interface Applied {
  outcomes: TargetOutcome[];
  took: string[];
  rollout?: HistoryEntry['rollout'];
  switch?: HistoryEntry['switch'];
}

/** With checks: the release wave by wave (rollout.ts), each wave checked. */
async function applyRollout(ctx: Context, journal: Journal, plan: PlannedDeploy, started: Started, decision: TransferDecision, armed: Map<string, ArmedSwitch>): Promise<Applied> {
  const { config } = ctx;
  let result: RolloutResult;
  try {
    result = await rollOut(ctx, journal, plan.targets, plan.commit, armed, (target) => transfer(ctx, journal, plan, target, decision.failures.get(target.name)), (name) => targetNamed(config, name), hookFacts(started, plan));
  } finally {
    for (const a of armed.values()) a.cancel();
  }
  for (const outcome of result.outcomes) ctx.reporter.targetDone(outcome);
  return { outcomes: result.outcomes, took: result.took, rollout: result.rollout, ...(result.switchSummary === undefined ? {} : { switch: result.switchSummary }) };
}

/** Without checks: every target written (with slots, staged), then with slots every `current` switched at once. */
async function applyInTwoPhases(ctx: Context, journal: Journal, plan: PlannedDeploy, started: Started, decision: TransferDecision, armed: Map<string, ArmedSwitch>): Promise<Applied> {
  const { config } = ctx;
  let switched: Awaited<ReturnType<typeof switchFarm>>;
  try {
    // phase one: every target written (with slots: staged into a slot nothing serves)
    const written = await pMap(
      plan.targets,
      async (target) => {
        const outcome = await transfer(ctx, journal, plan, target, decision.failures.get(target.name));
        if (target.slots === undefined) ctx.reporter.targetDone(outcome);
        return outcome;
      },
      { concurrency: config.concurrency },
    );
    // phase two, with slots: `current` switched on every target at once
    switched = plan.targets.some((t) => t.slots !== undefined) ? await switchFarm(ctx, journal, plan.targets, written, armed, plan.commit) : { outcomes: written, summary: undefined };
  } finally {
    // a switch made ready and never sent must not wait on its target until it times out
    for (const a of armed.values()) a.cancel();
  }
  const { summary } = switched;
  // afterSwitch for every target that now serves the release (a php-fpm reload, say); a failure fails that target
  const serving = plan.targets.filter((t) => !t.upToDate && switched.outcomes.find((o) => o.name === t.name)?.status === 'ok');
  const hookFailures = await afterSwitch(
    ctx,
    hookFacts(started, plan),
    serving.map((t) => ({ target: targetNamed(config, t.name), slot: t.slots?.switchTo ?? t.slots?.stage?.slot })),
  );
  const outcomes = switched.outcomes.map((o): TargetOutcome => {
    const failure = hookFailures.get(o.name);
    return failure === undefined ? o : { ...o, status: 'failed', error: failure };
  });
  for (const target of plan.targets.filter((t) => t.slots !== undefined)) {
    const outcome = outcomes.find((o) => o.name === target.name);
    if (outcome !== undefined) ctx.reporter.targetDone(outcome);
  }
  return { outcomes, took: [], ...(summary === undefined ? {} : { switch: summary }) };
}

/** A deploy's end, in the journal's state. */
function finished(s: State, plan: PlannedDeploy, started: Started, entry: HistoryEntry): void {
  deployFinished(s, started.id, plan.commit, entry.finishedAt);
  releaseJudged(s, entry);
  // a repair (sync --full) vouches for the slot it wrote; the others are no longer vouched for
  if (plan.repair) for (const t of plan.targets) if (t.slots?.stage !== undefined) forgetOtherSlots(s, t.name, [t.slots.stage.slot]);
}

/** A deploy's end in the journal: its state change and its count, then its line in the history. */
async function record(journal: Journal, entry: HistoryEntry, change: (s: State) => void): Promise<void> {
  await journal.update((s) => {
    change(s);
    countDeploy(s, entry, () => journal.readHistory());
  });
  journal.appendHistory(entry);
}

/**
 * A dry run: the same plan and the same decisions as the real run, rendered. With the source at
 * the commit, rsync lists what each pass would do (--dry-run); with the source elsewhere, rsync
 * cannot be asked and the plan itself is listed.
 */
async function renderDryRun(ctx: Context, plan: PlannedDeploy, started: Started): Promise<HistoryEntry> {
  const { config } = ctx;
  const sourceReady = plan.source === undefined;
  if (sourceReady) await assertNoForeignSymlink(ctx, plan);
  const decision = decideTransfers(plan, sourceReady ? await askPreflights(ctx, plan) : new Map(), config, true);
  if (decision.refusal !== undefined) throw new FanoutError(decision.refusal);
  const outcomes = await pMap(
    plan.targets,
    async (target): Promise<TargetOutcome> => {
      const failure = decision.failures.get(target.name);
      const slot = target.slots?.stage?.slot ?? target.slots?.switchTo;
      const base = { ...outcomeBase(target), ...(slot === undefined ? {} : { slot }) };
      let outcome: TargetOutcome;
      if (failure !== undefined) outcome = { ...base, status: 'failed', ...failure };
      else if (target.sync.kind === 'none') outcome = { ...base, status: 'ok' };
      else if (!sourceReady) outcome = { ...base, status: 'ok', ...planItems(target.sync) };
      else {
        const configured = targetNamed(config, target.name);
        const run = await runPasses(ctx, writtenTarget(configured, target), passesOf(target.sync), { dryRun: true, maxDelete: plan.maxDelete, staging: stagingOf(configured, target) });
        outcome = { ...base, ...run.totals, status: run.failure === undefined ? 'ok' : 'failed', ...(run.failure === undefined ? {} : { error: run.failure }) };
      }
      ctx.reporter.targetDone(outcome);
      return outcome;
    },
    { concurrency: config.concurrency },
  );
  return historyEntry(started, plan.commit, outcomes, { dryRun: true });
}

function outcomeBase(target: TargetPlan): Omit<TargetOutcome, 'status'> {
  return { name: target.name, from: target.from, mode: target.sync.kind, sent: 0, deleted: 0, bytes: 0, durationMs: 0, attempts: 0 };
}

/** What a plan does, listed as rsync itemizes it, for a dry run that cannot ask rsync. */
function planItems(sync: Exclude<SyncPlan, { kind: 'none' }>): Pick<TargetOutcome, 'sent' | 'deleted' | 'items'> {
  if (sync.kind === 'full') return { sent: 0, deleted: 0, items: [`a full pass (${sync.why}): every file, and deletion of whatever the commit lacks`] };
  const directories = new Set(sync.sends.map(parentOf));
  const items = [...sync.sends.filter((p) => !directories.has(p)).map((p) => `>f          ${displayPath(p)}`), ...sync.removals.map((p) => `*deleting   ${displayPath(p)}`)];
  return { sent: sync.changed, deleted: sync.deleted, items };
}
/** The deploy lock, telling the person waiting for it whom they wait for. */
export function takeLock(ctx: Context, purpose: string): Promise<Lock> {
  return acquireLock(ctx.config.stateDir, ctx.config.lockTimeout, purpose, ctx.log, {
    onWait: (holder) => {
      ctx.reporter.note(`waiting for the deploy in progress (${holder})`);
    },
    onLeftovers: (stopped, holder) => {
      ctx.reporter.note(`stopped ${stopped} process${stopped === 1 ? '' : 'es'} (rsync, git, a build) left running by a fanout that died (${holder}); what it was doing is done again`);
    },
  });
}

async function chooseCommit(config: Config, journal: Journal, revision: Revision): Promise<Commit> {
  switch (revision.kind) {
    case 'rev':
      return resolveCommit(config.repo, revision.rev);
    case 'tip': {
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
      if (held === null) throw new FanoutError(`the source ${config.source} holds no deployed commit yet: deploy first (git push or fanout deploy)`);
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

/** Invariant 6: --delete never runs from an empty or missing source. */
function assertSourceNotEmpty(source: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(source);
  } catch {
    throw new FanoutError(`source ${source} does not exist; refusing to sync (it would empty every target)`);
  }
  if (entries.length === 0) throw new FanoutError(`source ${source} is empty; refusing to sync (it would empty every target); --allow-empty if that is intended`);
}

/**
 * Invariant 8 for what the passes read: a symlink made by hand where the commit has a directory is
 * refused as the checkout refuses one, whichever pass would read through it (a sync of a source
 * that holds the commit, a full pass to a new target after a paths checkout).
 */
async function assertNoForeignSymlink(ctx: Context, plan: PlannedDeploy, journal?: Journal): Promise<void> {
  const link = await foreignSymlink(ctx.config.repo, ctx.config.source, plan.commit, sourcePathsRead(plan), ctx.log);
  if (link === undefined) return;
  const refusal = throughSymlink(link);
  // the source no longer holds the commit: the next deploy rebuilds it (the link itself removed, nothing through it)
  await journal?.update((s) => {
    sourceUntraceable(s, refusal.message);
  });
  throw refusal;
}

/**
 * Bring `source` to `commit` as the plan says. The attempt is journalled first, so that a checkout
 * cut short is redone in full next time.
 */
async function checkOutSource(ctx: Context, journal: Journal, step: SourceStep, commit: Commit): Promise<void> {
  const { config, log } = ctx;
  const link = step.kind === 'paths' ? symlinkAbove(config.source, step.writes.map((c) => c.path)) : undefined;
  if (link !== undefined) throw throughSymlink(link);
  await journal.update((s) => {
    beginCheckout(s, commit);
  });
  const started = performance.now();
  const scratchIndex = path.join(config.stateDir, 'checkout.index');
  if (step.kind === 'switch') await switchTree(config.repo, config.source, step.from, commit, scratchIndex, log);
  else {
    // what watch mirrors from the source is the operator's, never git's to remove
    const mirrored = config.watch.path === undefined ? [] : [bytesOf(config.watch.path)];
    const removeOthers = step.kind === 'all' && step.removeOthers ? { keep: [...config.protect, ...config.exclude], keepDirectories: mirrored } : undefined;
    await checkout(config.repo, config.source, commit, step.kind === 'paths' ? step.writes : 'all', scratchIndex, log, removeOthers);
  }
  const paths = step.kind === 'paths' ? step.writes.length : step.kind === 'switch' ? `more than ${MAX_CHANGES}` : 'all';
  log.info({ commit, paths, durationMs: Math.round(performance.now() - started) }, 'source checked out');
  await journal.update((s) => {
    checkoutSucceeded(s, commit);
  });
}

/**
 * The preflight passes the plan names, asked of rsync as dry runs, every target in parallel:
 * nothing happens on a target before its riskiest pass is known to be safe.
 */
async function askPreflights(ctx: Context, plan: PlannedDeploy): Promise<Map<string, PreflightAnswer>> {
  const answers = new Map<string, PreflightAnswer>();
  await pMap(
    plan.targets,
    async (target) => {
      if (target.preflight === undefined) return;
      // rsync names the protected path that stops it (local targets: a daemon caps debug output)
      const configured = targetNamed(ctx.config, target.name);
      const result = await rsyncWithRetries(ctx, writtenTarget(configured, target), target.preflight, {
        dryRun: true,
        maxDelete: undefined,
        staging: stagingOf(configured, target),
        extra: ['--debug=FILTER1'],
      });
      const { outcome } = result;
      answers.set(target.name, {
        deletions: outcome.deleted,
        blockedBy: outcome.blockedBy,
        protectedNames: outcome.protectedNames,
        failure: outcome.ok || outcome.blockedBy !== undefined ? undefined : { error: outcome.error ?? 'rsync failed', attempts: result.attempts, durationMs: result.durationMs },
      });
    },
    { concurrency: ctx.config.concurrency },
  );
  return answers;
}

/** One target's part of the deploy (with slots: the slot it stages), journalled before and after. */
async function transfer(ctx: Context, journal: Journal, plan: PlannedDeploy, target: TargetPlan, refused: { error: string; attempts: number; durationMs: number } | undefined): Promise<TargetOutcome> {
  const { log } = ctx;
  const { name, sync } = target;
  const configured = targetNamed(ctx.config, name);
  const slot = target.slots?.stage?.slot;
  const base: TargetOutcome = { ...outcomeBase(target), status: 'ok', ...(target.slots === undefined ? {} : { slot: slot ?? target.slots.switchTo }) };
  let outcome: TargetOutcome;
  const unprepared = refused === undefined ? await prepareSlot(ctx, journal, configured, target) : undefined;
  if (refused !== undefined || unprepared !== undefined) {
    const error = refused?.error ?? unprepared ?? '';
    outcome = { ...base, status: 'failed', ...refused, error };
    await journal.update((s) => {
      refusedBeforeTransfer(s, name, error);
    });
  } else if (target.slots !== undefined && slot === undefined) {
    // a slot already holds the commit: this target only switches
    outcome = base;
  } else if (sync.kind === 'none') {
    // the tree is the same (an empty commit, a revert of a revert): it now holds this commit
    const revision = target.upToDate ? undefined : await writeRevision(ctx, writtenTarget(configured, target), plan.commit);
    outcome = revision === undefined ? base : { ...base, status: 'failed', error: revision };
    if (!target.upToDate && revision === undefined) {
      await journal.update((s) => {
        transferSucceeded(s, name, plan.commit, new Date().toISOString(), slot);
      });
    }
  } else {
    // Recorded before rsync starts: if fanout dies mid-transfer, the next run knows which paths
    // may be half-sent on this target.
    await journal.update((s) => {
      beginTransfer(s, name, plan.commit, plan.outsidePaths, slot);
    });
    const { totals, failure, untouched } = await runPasses(ctx, writtenTarget(configured, target), passesOf(sync), {
      dryRun: false,
      maxDelete: plan.maxDelete,
      staging: stagingOf(configured, target),
    });
    const { sent, deleted, bytes, durationMs, attempts } = totals;
    const revision = failure === undefined ? await writeRevision(ctx, writtenTarget(configured, target), plan.commit) : undefined;
    const error = failure ?? revision;
    outcome = { ...base, sent, deleted, bytes, durationMs, attempts, status: error === undefined ? 'ok' : 'failed', ...(error === undefined ? {} : { error: slot === undefined ? error : `staging slot ${slot}: ${error}` }) };
    await journal.update((s) => {
      if (error === undefined) transferSucceeded(s, name, plan.commit, new Date().toISOString(), slot);
      else transferFailed(s, name, plan.commit, outcome.error ?? error, { untouched: untouched && failure !== undefined, alreadyAttempted: target.alreadyAttempted }, slot);
    });
  }
  log[outcome.status === 'ok' ? 'info' : 'error']({ target: name, ...outcome }, slot === undefined ? 'target done' : 'slot staged');
  return outcome;
}

/** `git diff` between two commits, asked once per deploy however many targets need it; undefined changes past MAX_CHANGES paths. */
type ReadDiff = (from: Commit, to: Commit) => Promise<Pick<Diff, 'changes' | 'attributes'>>;

/** Every diff read, each checked for names fanout refuses (invariant 8) as it is read; the first such name is kept for the plan. */
function diffCache(repo: string, log: Logger): { read: ReadDiff; unsafeName: () => DeployFacts['unsafeName'] } {
  const cache = new Map<string, Promise<Pick<Diff, 'changes' | 'attributes'>>>();
  let unsafe: DeployFacts['unsafeName'];
  const read: ReadDiff = (from, to) => {
    if (from === to) return Promise.resolve({ changes: [], attributes: false });
    const key = `${from}..${to}`;
    let changes = cache.get(key);
    if (changes === undefined) {
      changes = changedPaths(repo, from, to, log, MAX_CHANGES).then((diff) => {
        unsafe ??= diff.refused;
        return { changes: diff.changes, attributes: diff.attributes };
      });
      cache.set(key, changes);
    }
    return changes;
  };
  return { read, unsafeName: () => unsafe };
}

/**
 * What differs between a tree's holding and `commit`: the diff from the commit it last received
 * completely, plus every path an incomplete later attempt may have touched. Undefined when that
 * cannot be known (nothing recorded, too many attempts, or a commit gone from the repository after
 * a force push and gc): then only rewriting everything is safe.
 */
async function changesSince(diffs: ReadDiff, held: Holding | undefined, commit: Commit): Promise<Since | undefined> {
  if (held?.commit == null || held.attempted.length > MAX_ATTEMPTED) return undefined;
  const base = held.commit;
  const extra: Change[] = [];
  try {
    const { changes, attributes } = await diffs(base, commit);
    if (changes === undefined) return { kind: 'too many', attributes };
    for (const attempted of held.attempted) {
      const touched = await diffs(base, attempted);
      if (touched.changes === undefined) return { kind: 'too many', attributes };
      extra.push(...touched.changes);
    }
    return { kind: 'named', changes, extra };
  } catch {
    // git cannot diff from a commit it no longer has: fall back to rewriting everything
    return undefined;
  }
}

function sourceKinds(source: string, paths: readonly RelPath[]): Map<RelPath, EntryKind> {
  const kinds = new Map<RelPath, EntryKind>();
  for (const p of paths) {
    try {
      kinds.set(p, fs.lstatSync(onDisk(source, p)).isDirectory() ? 'directory' : 'other');
    } catch {
      kinds.set(p, 'missing');
    }
  }
  return kinds;
}

/** Who started a deploy, for the history: the person behind sudo, not only the account it ran as. */
export function whoAmI(env: NodeJS.ProcessEnv = process.env): string {
  let user: string;
  try {
    user = os.userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? '?'}`;
  }
  const behind = env.SUDO_USER;
  return behind !== undefined && behind !== '' && behind !== user ? `${behind} (sudo as ${user})` : user;
}
