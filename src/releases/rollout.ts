import { setTimeout as sleep } from 'node:timers/promises';
import type { Target } from '../base/config.js';
import { checkTarget } from './checks.js';
import { afterSwitch, type AfterSwitch, type HookFacts } from './operator-hooks.js';
import type { TargetPlan } from '../engine/target-plan.js';
import type { Commit } from '../base/git.js';
import type { HistoryEntry, Journal, TargetOutcome } from '../engine/journal.js';
import type { Context } from '../engine/context.js';
import { laggingAfter, recordLagging, switchedOutcome, switchSummary, switchTargets, type SwitchResult } from './slots.js';
import type { SwitchesAhead } from './switch-pool.js';
import { decideSwitch, heldWhy, laggingNote, stagedFarm, type SwitchDecision } from './switch-policy.js';
import { humanDuration } from '../engine/units.js';
import { wavesWithout } from './waves.js';
import { checkFailed } from '../engine/state.js';

/**
 * A release gated by checks: targets with slots stage first, all of them; then the targets take
 * the release wave by wave (the canary, then each batch): those in place are written, those with
 * slots switch together, and every target of the wave is checked as a visitor would see it. A
 * failed check stops the rollout there; what happens to those that took the release
 * (`onFailure`) is the caller's, with the list this returns.
 */
export interface RolloutResult {
  outcomes: TargetOutcome[];
  rollout: NonNullable<HistoryEntry['rollout']>;
  /** the targets now serving this release (switched, or written in place), in the order they took it */
  took: string[];
  switchSummary: HistoryEntry['switch'];
}

/** What a rollout carries from wave to wave. */
interface Rollout {
  ctx: Context;
  journal: Journal;
  commit: Commit;
  checks: NonNullable<Context['config']['checks']>;
  byName: Map<string, TargetPlan>;
  outcomes: Map<string, TargetOutcome>;
  ahead: SwitchesAhead;
  /** the transfers of a group of targets, `concurrency` at a time, each outcome in the journal once it returns */
  write: (targets: readonly TargetPlan[]) => Promise<TargetOutcome[]>;
  targetNamed: (name: string) => Target;
  /** afterSwitch, each target's as soon as it serves the release */
  hooks: AfterSwitch;
  /** what `switch:` decided once every slot staged; not reached, no slot switches (with all: the farm stays on one version) */
  decision: SwitchDecision;
  /** the targets that failed to stage */
  stageFailed: string[];
  record: RolloutResult['rollout'];
  took: string[];
  /** each wave's switches */
  switches: SwitchResult[][];
}

export async function rollOut(
  ctx: Context,
  journal: Journal,
  plans: readonly TargetPlan[],
  commit: Commit,
  ahead: SwitchesAhead,
  write: (targets: readonly TargetPlan[]) => Promise<TargetOutcome[]>,
  targetNamed: (name: string) => Target,
  facts: HookFacts,
): Promise<RolloutResult> {
  const { config, reporter } = ctx;
  const checks = config.checks;
  if (checks === undefined) throw new Error('rollOut without checks');
  const outcomes = new Map<string, TargetOutcome>();
  // phase one, with slots: every target stages before any takes the release
  const slotted = plans.filter((p) => p.slots !== undefined);
  if (slotted.length > 0) reporter.progress({ kind: 'phase', name: 'staging', targets: slotted.map((p) => p.name) });
  for (const outcome of await write(slotted)) outcomes.set(outcome.name, outcome);
  const stageFailed = [...outcomes.values()].filter((o) => o.status === 'failed').map((o) => o.name);
  // the same rule as a deploy without checks: enough of the farm staged, or no slot switches
  const decision = decideSwitch(config.switchQuorum, stagedFarm(config, journal.state, plans, outcomes, commit));

  // those that lag take no part: a wave of them would check nothing
  const waves = wavesWithout(
    plans.map((p) => p.name),
    config.rollout,
    decision.lagging,
  );
  const byName = new Map(plans.map((p) => [p.name, p]));
  const run: Rollout = { ctx, journal, commit, checks, byName, outcomes, ahead, write, targetNamed, hooks: afterSwitch(ctx, facts), decision, stageFailed, record: { waves, checks: [] }, took: [], switches: [] };
  for (const [index, wave] of waves.entries()) {
    announceWave(run, waves, index);
    const serving = await takeWave(run, wave);
    const stopped = (await checkWave(run, index, serving)) ?? notTaken(run, index, wave);
    if (stopped !== undefined) {
      run.record.stopped = stopped;
      break;
    }
    if (index < waves.length - 1 && config.rollout.pauseMs > 0) {
      reporter.note(`pausing ${humanDuration(config.rollout.pauseMs)} before the next batch`);
      await sleep(config.rollout.pauseMs);
    }
  }
  markUnreached(run, plans);
  const lagging = laggingAfter(decision.lagging, run.switches.flat());
  await recordLagging(journal, lagging, commit);
  if (lagging.length > 0) reporter.note(laggingNote(lagging));
  return { outcomes: plans.map((p) => outcomes.get(p.name)).filter((o): o is TargetOutcome => o !== undefined), rollout: run.record, took: run.took, switchSummary: switchSummary(run.switches, [...decision.held], lagging) };
}

/** How a wave is announced: the canary, or `batch 2/3` counted without it. */
export function waveName(index: number, waves: number, canary: boolean): string {
  return index === 0 && canary ? 'canary' : `batch ${index + (canary ? 0 : 1)}/${waves - (canary ? 1 : 0)}`;
}

/**
 * A wave begins: its note (`canary: web1`) and its phase, whose targets are those it writes in
 * place (those with slots only switch). One wave is the whole farm, its phase the transfer.
 */
function announceWave(run: Rollout, waves: readonly (readonly string[])[], index: number): void {
  const { reporter, config } = run.ctx;
  const wave = waves[index] ?? [];
  const inPlace = wave.filter((n) => run.byName.get(n)?.slots === undefined);
  if (waves.length === 1) {
    if (inPlace.length > 0) reporter.progress({ kind: 'phase', name: 'transfer', targets: inPlace });
    return;
  }
  const name = waveName(index, waves.length, config.rollout.canary !== undefined);
  reporter.note(`${name}: ${wave.join(', ')}`);
  // quiet: the note has said it
  reporter.progress({ kind: 'phase', name, detail: wave.join(', '), targets: inPlace, quiet: true });
}

/** A wave takes the release: in place, written now; with slots, those that staged switch together. Returns the targets of the wave that serve it. */
async function takeWave(run: Rollout, wave: readonly string[]): Promise<string[]> {
  const { ctx, byName, outcomes, ahead } = run;
  const inPlace = wave.filter((n) => byName.get(n)?.slots === undefined);
  for (const outcome of await run.write(inPlace.map((n) => byName.get(n)).filter((p): p is TargetPlan => p !== undefined))) outcomes.set(outcome.name, outcome);
  const holdSlots = !run.decision.reached;
  const switching = holdSlots ? [] : wave.filter((n) => byName.get(n)?.slots?.switchTo !== undefined && outcomes.get(n)?.status === 'ok');
  const results = await switchTargets(
    ctx,
    run.journal,
    switching.map((n) => ({ target: run.targetNamed(n), slot: byName.get(n)?.slots?.switchTo ?? '' })),
    ahead,
    ({ target, slot }) => {
      if (byName.get(target.name)?.upToDate !== true) run.hooks.start(target, slot);
    },
  );
  run.switches.push(results);
  for (const r of results) {
    const o = outcomes.get(r.name);
    if (o !== undefined) outcomes.set(r.name, switchedOutcome(o, r));
  }
  const serving = wave.filter((n) => outcomes.get(n)?.status === 'ok' && (byName.get(n)?.slots === undefined || !holdSlots));
  run.took.push(...serving.filter((n) => byName.get(n)?.upToDate !== true));
  return serving;
}

/**
 * Every target of the wave that serves the release now: its afterSwitch hook, then its check, as
 * a visitor would see it. A failed check marks the target failed, in the journal too. Returns where
 * the rollout stops, if a check failed.
 */
async function checkWave(run: Rollout, index: number, serving: readonly string[]): Promise<RolloutStop | undefined> {
  const { ctx, byName, outcomes } = run;
  if (serving.length > 0) ctx.reporter.progress({ kind: 'phase', name: 'checks', detail: serving.join(', ') });
  const slotOf = (n: string): string | undefined => byName.get(n)?.slots?.switchTo ?? byName.get(n)?.slots?.stage?.slot;
  const hooked = await run.hooks.failures(serving.filter((n) => byName.get(n)?.upToDate !== true).map((n) => ({ target: run.targetNamed(n), slot: slotOf(n) })));
  const found = await Promise.all(
    serving.map(async (n) => {
      const hookFailure = hooked.get(n);
      if (hookFailure !== undefined) return { target: n, ok: false, detail: hookFailure, attempts: 1, durationMs: 0, at: new Date().toISOString() };
      return checkTarget(run.targetNamed(n), run.checks, { commit: run.commit, slot: slotOf(n) }, ctx.log);
    }),
  );
  const failedChecks = found.filter((c) => !c.ok);
  if (failedChecks.length > 0) {
    await run.journal.update((s) => {
      for (const c of failedChecks) checkFailed(s, c.target, c.detail);
    });
  }
  for (const c of found) {
    run.record.checks.push({ ...c, wave: index });
    ctx.reporter.note(`check ${c.target}: ${c.ok ? 'ok' : 'FAILED'} (${c.detail}${c.attempts > 1 ? `, ${c.attempts} tries` : ''})`);
    if (!c.ok) {
      const o = outcomes.get(c.target);
      if (o !== undefined) outcomes.set(c.target, { ...o, status: 'failed', error: `check failed: ${c.detail}` });
    }
  }
  const failed = found.find((c) => !c.ok);
  return failed === undefined ? undefined : { wave: index, target: failed.target, detail: failed.detail };
}

type RolloutStop = NonNullable<RolloutResult['rollout']['stopped']>;

/** A wave that could not take the release (every slot held, say) stops the rollout too. */
function notTaken(run: Rollout, index: number, wave: readonly string[]): RolloutStop | undefined {
  const missing = wave.filter((n) => run.outcomes.get(n)?.status !== 'ok');
  if (missing.length === 0) return undefined;
  return { wave: index, target: missing[0] ?? '', detail: run.outcomes.get(missing[0] ?? '')?.error ?? 'did not take the release' };
}

/** Targets the rollout never reached: in place, never written; with slots, staged and not switched. */
function markUnreached(run: Rollout, plans: readonly TargetPlan[]): void {
  const { stopped } = run.record;
  const why = stopped !== undefined ? `the rollout stopped at ${stopped.target} (${stopped.detail})` : !run.decision.reached ? heldWhy(run.ctx.config.switchQuorum, run.decision, run.stageFailed, 'failed to stage') : 'not reached';
  for (const p of plans) {
    const o = run.outcomes.get(p.name);
    if (o === undefined) run.outcomes.set(p.name, { name: p.name, from: p.from, mode: p.sync.kind, sent: 0, deleted: 0, bytes: 0, durationMs: 0, attempts: 0, status: 'failed', error: `not deployed: ${why}` });
    else if (p.slots?.switchTo !== undefined && o.status === 'ok' && o.switchedAt === undefined) run.outcomes.set(p.name, { ...o, status: 'failed', error: `staged in slot ${p.slots.switchTo}, not switched: ${why}` });
  }
}
