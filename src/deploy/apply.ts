import fs from 'node:fs';
import path from 'node:path';
import { targetNamed } from '../base/config.js';
import { decideTransfers, MAX_CHANGES, sourcePathsRead, type PreflightAnswer, type SourceStep, type TransferDecision } from './deploy-plan.js';
import type { TargetPlan } from '../engine/target-plan.js';
import { FanoutError, Refusal } from '../base/errors.js';
import { checkout, foreignSymlink, switchTree, symlinkAbove, throughSymlink } from '../base/checkout.js';
import type { Commit } from '../base/git.js';
import { Journal, type HistoryEntry, type TargetOutcome } from '../engine/journal.js';
import { bytesOf } from '../base/paths.js';
import { beginCheckout, beginTransfer, checkoutFailed, checkoutSucceeded, refusedBeforeTransfer, sourceUntraceable, transferFailed, transferNotBegun, transferSucceeded } from '../engine/state.js';
import { passesOf, rsyncWithRetries, runPasses } from '../engine/passes.js';
import type { Context } from '../engine/context.js';
import { shortCommit } from '../engine/report.js';
import { sendTotals } from './send-totals.js';
import { afterSwitch } from '../releases/operator-hooks.js';
import { rollOut, type RolloutResult } from '../releases/rollout.js';
import { prepareSlot, stagingOf, switchFarm, writeRevision, writtenTarget } from '../releases/slots.js';
import { SwitchesAhead, type SwitchTo } from '../releases/switch-pool.js';
import { finished, historyEntry, hookFacts, outcomeBase, record, type PlannedDeploy, type Started } from './record.js';
import { pushSucceeded } from './push-gate.js';
import { feedRelays } from './relay-feed.js';
import { inLanes } from '../engine/relay-routes.js';

// Apply, the last of a deploy's three steps: the plan carried out. The source is checked out and
// checked, rsync is asked about the riskiest passes, then every target takes the release, wave by
// wave when there are checks; each outcome is recorded as it lands.

/** Check out, ask rsync about the riskiest passes, then run every target's passes (with checks: wave by wave). Returns the entry and which targets took the release. */
export async function applyDeploy(ctx: Context, journal: Journal, plan: PlannedDeploy, started: Started, checked: boolean, gated = false): Promise<{ entry: HistoryEntry; took: string[] }> {
  const { config } = ctx;
  await prepareSource(ctx, journal, plan, started);
  ctx.reporter.progress({ kind: 'totals', totals: sendTotals(config.source, plan.targets) });
  // with relays, each takes the release first; the targets' passes then run on them
  const relays = await feedRelays(ctx, journal, plan);
  let applied: Applied;
  try {
    applied = await applyThrough({ ...ctx, routes: relays.routes }, journal, plan, started, checked);
  } finally {
    await relays.close();
  }
  const { outcomes, took, ...more } = applied;
  const entry = historyEntry(started, plan.commit, outcomes, more);
  // push: pre-receive: git rejects the push, and drops the commit, when its deploy did not succeed
  if (gated && !pushSucceeded(config, entry)) entry.pushRejected = true;
  await record(journal, entry, (s) => {
    finished(s, plan, started, entry);
  });
  return { entry, took };
}

/** Ask rsync about the riskiest passes, then every target takes the release, in two phases or wave by wave. */
async function applyThrough(ctx: Context, journal: Journal, plan: PlannedDeploy, started: Started, checked: boolean): Promise<Applied> {
  const { config } = ctx;
  const decision = decideTransfers(plan, await askPreflights(ctx, plan), config, false);
  if (decision.refusal !== undefined) throw new Refusal(decision.refusal);
  // With slots, the switches of the last targets to stage are made ready as each finishes: its
  // rsync connects then waits, so that the switch is one short exchange on those targets (the
  // others' are started afresh as those answer, within the same bound; switch-pool.ts)
  const ahead = new SwitchesAhead(
    ctx,
    plan.targets.flatMap((t) => (t.slots?.switchTo === undefined || decision.failures.has(t.name) ? [] : [{ target: targetNamed(config, t.name), slot: t.slots.switchTo }])),
  );
  const apply = config.checks !== undefined && checked ? applyRollout : applyInTwoPhases;
  return apply(ctx, journal, plan, started, decision, ahead);
}

/** The source brought to the commit, and checked before anything reaches a target. */
async function prepareSource(ctx: Context, journal: Journal, plan: PlannedDeploy, started: Started): Promise<void> {
  if (plan.source !== undefined) {
    ctx.reporter.progress({ kind: 'phase', name: 'checkout', detail: checkoutDetail(plan.source, plan.commit) });
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

/** What a checkout writes, for its phase line: `1a2b3c4d5e, 42 paths`. */
function checkoutDetail(step: SourceStep, commit: Commit): string {
  const what = step.kind === 'paths' ? `${step.writes.length} path${step.writes.length === 1 ? '' : 's'}` : step.kind === 'switch' ? `git's switch from ${shortCommit(step.from)}` : 'every file';
  return `${shortCommit(commit)}, ${what}`;
}

/** What the targets took, for the history entry: each target's outcome, and how the release went. */
interface Applied {
  outcomes: TargetOutcome[];
  took: string[];
  rollout?: HistoryEntry['rollout'];
  switch?: HistoryEntry['switch'];
}

/** With checks: the release wave by wave (rollout.ts), each wave checked. */
async function applyRollout(ctx: Context, journal: Journal, plan: PlannedDeploy, started: Started, decision: TransferDecision, ahead: SwitchesAhead): Promise<Applied> {
  const { config } = ctx;
  let result: RolloutResult;
  try {
    result = await rollOut(
      ctx,
      journal,
      plan.targets,
      plan.commit,
      ahead,
      (targets) =>
        transferAll(ctx, journal, plan, targets, decision, (target, outcome) => {
          ahead.staged(target.name, outcome.status === 'ok');
        }),
      (name) => targetNamed(config, name),
      hookFacts(started, plan),
    );
  } finally {
    ahead.cancel();
  }
  for (const outcome of result.outcomes) ctx.reporter.targetDone(outcome);
  return { outcomes: result.outcomes, took: result.took, rollout: result.rollout, ...(result.switchSummary === undefined ? {} : { switch: result.switchSummary }) };
}

/** Without checks: every target written (with slots, staged), then with slots every `current` switched at once. */
async function applyInTwoPhases(ctx: Context, journal: Journal, plan: PlannedDeploy, started: Started, decision: TransferDecision, ahead: SwitchesAhead): Promise<Applied> {
  const { config } = ctx;
  // afterSwitch (a php-fpm reload, say) for each target as soon as it serves the release; a failure fails that target
  const hooks = afterSwitch(ctx, hookFacts(started, plan));
  const byName = new Map(plan.targets.map((t) => [t.name, t]));
  const onSwitched = ({ target, slot }: SwitchTo): void => {
    if (byName.get(target.name)?.upToDate !== true) hooks.start(target, slot);
  };
  let switched: Awaited<ReturnType<typeof switchFarm>>;
  try {
    // phase one: every target written (with slots: staged into a slot nothing serves)
    const staging = plan.targets.length > 0 && plan.targets.every((t) => t.slots !== undefined);
    // quiet when every target has it already: their lines say so
    const quiet = plan.targets.every((t) => t.sync.kind === 'none');
    ctx.reporter.progress({ kind: 'phase', name: staging ? 'staging' : 'transfer', targets: plan.targets.map((t) => t.name), quiet });
    const written = await transferAll(ctx, journal, plan, plan.targets, decision, (target, outcome) => {
      if (target.slots === undefined) ctx.reporter.targetDone(outcome);
      ahead.staged(target.name, outcome.status === 'ok');
    });
    // phase two, with slots: `current` switched on every target at once
    switched = plan.targets.some((t) => t.slots !== undefined) ? await switchFarm(ctx, journal, plan.targets, written, ahead, plan.commit, onSwitched) : { outcomes: written, summary: undefined };
  } finally {
    // a switch made ready and never sent must not wait on its target until it times out
    ahead.cancel();
  }
  const { summary } = switched;
  // every target that serves the release now: those in place since they were written
  const serving = plan.targets.filter((t) => !t.upToDate && switched.outcomes.find((o) => o.name === t.name)?.status === 'ok');
  const hookFailures = await hooks.failures(serving.map((t) => ({ target: targetNamed(config, t.name), slot: t.slots?.switchTo ?? t.slots?.stage?.slot })));
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
export async function assertNoForeignSymlink(ctx: Context, plan: PlannedDeploy, journal?: Journal): Promise<void> {
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
 * cut short is redone in full next time; its success goes with the deploy's next write.
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
  // written with the transfers' begin, the next write: a fanout killed before then checks out
  // again what it had written already, and nothing reads the source meanwhile but this deploy. A
  // write that fails leaves it unwritten, and the next write, which the deploy awaits, fails too.
  journal
    .note((s) => {
      checkoutSucceeded(s, commit);
    })
    .catch(() => undefined);
}

/**
 * The preflight passes the plan names, asked of rsync as dry runs, every target in parallel:
 * nothing happens on a target before its riskiest pass is known to be safe.
 */
export async function askPreflights(ctx: Context, plan: PlannedDeploy): Promise<Map<string, PreflightAnswer>> {
  const answers = new Map<string, PreflightAnswer>();
  const asked = plan.targets.filter((t) => t.preflight !== undefined).length;
  if (asked > 0) ctx.reporter.progress({ kind: 'phase', name: 'preflight', detail: `rsync's dry run on ${asked} target${asked === 1 ? '' : 's'}` });
  await inLanes(
    plan.targets,
    ctx.routes,
    ctx.config.concurrency,
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
  );
  return answers;
}

/**
 * The transfers of these targets (with slots: the slots they stage), `concurrency` at a time. Every
 * transfer is recorded as begun in one write before the first rsync starts, so a fanout killed
 * half-way leaves each target it may have changed attempted (its next sync is a full pass). Each
 * outcome is noted as it lands and written with the others that land meanwhile, not in the
 * target's time: the next target starts at once. `report` hears of an outcome once it is written;
 * all are written before this returns.
 */
async function transferAll(
  ctx: Context,
  journal: Journal,
  plan: PlannedDeploy,
  targets: readonly TargetPlan[],
  decision: TransferDecision,
  report: (target: TargetPlan, outcome: TargetOutcome) => void = () => undefined,
): Promise<TargetOutcome[]> {
  const begun = targets.filter((t) => runsRsync(t, decision.failures.has(t.name)));
  if (begun.length > 0) {
    await journal.update((s) => {
      for (const t of begun) beginTransfer(s, t.name, plan.commit, plan.outsidePaths, t.slots?.stage?.slot);
    });
  }
  const reported: Promise<void>[] = [];
  const phase = { started: performance.now(), loop: performance.eventLoopUtilization() };
  const outcomes = await inLanes(targets, ctx.routes, ctx.config.concurrency, async (target) => {
    const { outcome, recorded } = await transfer(ctx, journal, plan, target, decision.failures.get(target.name));
    const told = recorded.then(() => {
      report(target, outcome);
    });
    // awaited below; until then a failed write must not count as unhandled
    told.catch(() => undefined);
    reported.push(told);
    return outcome;
  });
  // how busy node itself was meanwhile: an exit is seen late while it is
  ctx.log.info({ targets: targets.length, durationMs: Math.round(performance.now() - phase.started), eventLoopBusy: Math.round(performance.eventLoopUtilization(phase.loop).utilization * 1000) / 1000 }, 'transfers done');
  await journal.flush();
  await Promise.all(reported);
  return outcomes;
}

/** Whether a target's part of the deploy writes its tree with rsync (not refused, something to send, a slot to stage). */
function runsRsync(target: TargetPlan, refused: boolean): boolean {
  return !refused && target.sync.kind !== 'none' && (target.slots === undefined || target.slots.stage !== undefined);
}

/** A target's part of the deploy: its outcome, and when that has landed in the journal. */
interface Transferred {
  outcome: TargetOutcome;
  recorded: Promise<void>;
}

/** One target's part of the deploy (with slots: the slot it stages); its begin is recorded already when it runs rsync (transferAll). */
async function transfer(ctx: Context, journal: Journal, plan: PlannedDeploy, target: TargetPlan, refused: { error: string; attempts: number; durationMs: number } | undefined): Promise<Transferred> {
  const started = performance.now();
  const { name, sync } = target;
  const configured = targetNamed(ctx.config, name);
  const slot = target.slots?.stage?.slot;
  const base: TargetOutcome = { ...outcomeBase(target), status: 'ok', ...(target.slots === undefined ? {} : { slot: slot ?? target.slots.switchTo }) };
  let done: Transferred;
  const unprepared = refused === undefined ? await prepareSlot(ctx, journal, configured, target) : undefined;
  if (refused !== undefined || unprepared !== undefined) {
    const error = refused?.error ?? unprepared ?? '';
    done = {
      outcome: { ...base, status: 'failed', ...refused, error },
      recorded: journal.note((s) => {
        if (runsRsync(target, refused !== undefined)) transferNotBegun(s, name, plan.commit, error, target.alreadyAttempted, slot);
        else refusedBeforeTransfer(s, name, error);
      }),
    };
  } else if (target.slots !== undefined && slot === undefined) {
    // a slot already holds the commit: this target only switches
    done = { outcome: base, recorded: Promise.resolve() };
  } else if (sync.kind === 'none') {
    done = await recordUnchanged(ctx, journal, plan, target, base);
  } else {
    done = await sendTo(ctx, journal, plan, target, base);
  }
  const { outcome } = done;
  ctx.log[outcome.status === 'ok' ? 'info' : 'error']({ target: name, ...outcome, tookMs: Math.round(performance.now() - started) }, slot === undefined ? 'target done' : 'slot staged');
  ctx.reporter.progress({ kind: 'finished', target: name, ok: outcome.status === 'ok' });
  return done;
}

/** A target whose tree is the same (an empty commit, a revert of a revert): it now holds this commit. */
async function recordUnchanged(ctx: Context, journal: Journal, plan: PlannedDeploy, target: TargetPlan, base: TargetOutcome): Promise<Transferred> {
  if (target.upToDate) return { outcome: base, recorded: Promise.resolve() };
  const configured = targetNamed(ctx.config, target.name);
  const revision = await writeRevision(ctx, writtenTarget(configured, target), plan.commit);
  if (revision !== undefined) return { outcome: { ...base, status: 'failed', error: revision }, recorded: Promise.resolve() };
  const recorded = journal.note((s) => {
    transferSucceeded(s, target.name, plan.commit, new Date().toISOString(), target.slots?.stage?.slot);
  });
  return { outcome: base, recorded };
}

/** A target's passes run (its begin recorded already), then the revision file; its outcome noted in the journal. */
async function sendTo(ctx: Context, journal: Journal, plan: PlannedDeploy, target: TargetPlan, base: TargetOutcome): Promise<Transferred> {
  const { name, sync } = target;
  const configured = targetNamed(ctx.config, name);
  const slot = target.slots?.stage?.slot;
  if (sync.kind === 'none') throw new Error(`sendTo ${name} with nothing to send`);
  const { totals, failure, untouched, via } = await runPasses(ctx, writtenTarget(configured, target), passesOf(sync), {
    dryRun: false,
    maxDelete: plan.maxDelete,
    staging: stagingOf(configured, target),
  });
  const { sent, deleted, bytes, durationMs, attempts } = totals;
  const revision = failure === undefined ? await writeRevision(ctx, writtenTarget(configured, target), plan.commit) : undefined;
  const error = failure ?? revision;
  const outcome: TargetOutcome = { ...base, sent, deleted, bytes, durationMs, attempts, ...(via === undefined ? {} : { via }), status: error === undefined ? 'ok' : 'failed', ...(error === undefined ? {} : { error: slot === undefined ? error : `staging slot ${slot}: ${error}` }) };
  const recorded = journal.note((s) => {
    if (error === undefined) transferSucceeded(s, name, plan.commit, new Date().toISOString(), slot);
    else transferFailed(s, name, plan.commit, outcome.error ?? error, { untouched: untouched && failure !== undefined, alreadyAttempted: target.alreadyAttempted }, slot);
  });
  return { outcome, recorded };
}
