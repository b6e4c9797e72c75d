import { setTimeout as sleep } from 'node:timers/promises';
import pMap from 'p-map';
import type { Target } from '../base/config.js';
import { checkTarget } from './checks.js';
import { afterSwitch, type HookFacts } from './operator-hooks.js';
import type { TargetPlan } from '../engine/target-plan.js';
import type { Commit } from '../base/git.js';
import type { HistoryEntry, Journal, TargetOutcome } from '../engine/journal.js';
import type { Context } from '../engine/context.js';
import { armSwitch, switchedOutcome, switchSummary, switchTargets, type ArmedSwitch, type SwitchResult } from './slots.js';
import { humanDuration } from '../engine/report.js';
import { rolloutWaves } from './waves.js';
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

export async function rollOut(
  ctx: Context,
  journal: Journal,
  plans: readonly TargetPlan[],
  commit: Commit,
  armed: Map<string, ArmedSwitch>,
  write: (target: TargetPlan) => Promise<TargetOutcome>,
  targetNamed: (name: string) => Target,
  facts: HookFacts,
): Promise<RolloutResult> {
  const { config, reporter } = ctx;
  const checks = config.checks;
  if (checks === undefined) throw new Error('rollOut without checks');
  const byName = new Map(plans.map((p) => [p.name, p]));
  const outcomes = new Map<string, TargetOutcome>();
  // phase one, with slots: every target stages before any takes the release
  const slotted = plans.filter((p) => p.slots !== undefined);
  for (const outcome of await pMap(slotted, write, { concurrency: config.concurrency })) outcomes.set(outcome.name, outcome);
  const stageFailed = [...outcomes.values()].filter((o) => o.status === 'failed').map((o) => o.name);
  const holdSlots = config.switchPolicy === 'all' && stageFailed.length > 0;

  const waves = rolloutWaves(
    plans.map((p) => p.name),
    config.rollout,
  );
  const rollout: RolloutResult['rollout'] = { waves, checks: [] };
  const took: string[] = [];
  const switches: SwitchResult[] = [];
  for (const [index, wave] of waves.entries()) {
    if (waves.length > 1) reporter.note(`${index === 0 && config.rollout.canary !== undefined ? 'canary' : `batch ${index + (config.rollout.canary === undefined ? 1 : 0)}/${waves.length - (config.rollout.canary === undefined ? 0 : 1)}`}: ${wave.join(', ')}`);
    // in place: written now, in this wave
    const inPlace = wave.filter((n) => byName.get(n)?.slots === undefined);
    for (const outcome of await pMap(inPlace.map((n) => byName.get(n)).filter((p): p is TargetPlan => p !== undefined), write, { concurrency: config.concurrency })) outcomes.set(outcome.name, outcome);
    // with slots: those of the wave that staged switch together
    const switching = holdSlots ? [] : wave.filter((n) => byName.get(n)?.slots?.switchTo !== undefined && outcomes.get(n)?.status === 'ok');
    const results = await switchTargets(
      ctx,
      journal,
      switching.map((n) => armed.get(n) ?? armSwitch(ctx, targetNamed(n), byName.get(n)?.slots?.switchTo ?? '')),
    );
    for (const n of switching) armed.delete(n);
    switches.push(...results);
    for (const r of results) {
      const o = outcomes.get(r.name);
      if (o !== undefined) outcomes.set(r.name, switchedOutcome(o, r));
    }
    // every target of the wave that serves the release now: its afterSwitch hook, then its check
    const serving = wave.filter((n) => outcomes.get(n)?.status === 'ok' && (byName.get(n)?.slots === undefined || !holdSlots));
    took.push(...serving.filter((n) => byName.get(n)?.upToDate !== true));
    const slotOf = (n: string): string | undefined => byName.get(n)?.slots?.switchTo ?? byName.get(n)?.slots?.stage?.slot;
    const hooked = await afterSwitch(
      ctx,
      facts,
      serving.filter((n) => byName.get(n)?.upToDate !== true).map((n) => ({ target: targetNamed(n), slot: slotOf(n) })),
    );
    const found = await Promise.all(
      serving.map(async (n) => {
        const hookFailure = hooked.get(n);
        if (hookFailure !== undefined) return { target: n, ok: false, detail: hookFailure, attempts: 1, durationMs: 0, at: new Date().toISOString() };
        return checkTarget(targetNamed(n), checks, { commit, slot: slotOf(n) }, ctx.log);
      }),
    );
    const failedChecks = found.filter((c) => !c.ok);
    if (failedChecks.length > 0) {
      await journal.update((s) => {
        for (const c of failedChecks) checkFailed(s, c.target, c.detail);
      });
    }
    for (const c of found) {
      rollout.checks.push({ ...c, wave: index });
      reporter.note(`check ${c.target}: ${c.ok ? 'ok' : 'FAILED'} (${c.detail}${c.attempts > 1 ? `, ${c.attempts} tries` : ''})`);
      if (!c.ok) {
        const o = outcomes.get(c.target);
        if (o !== undefined) outcomes.set(c.target, { ...o, status: 'failed', error: `check failed: ${c.detail}` });
      }
    }
    const failed = found.find((c) => !c.ok);
    if (failed !== undefined) {
      rollout.stopped = { wave: index, target: failed.target, detail: failed.detail };
      break;
    }
    // a wave that could not take the release (every slot held, say) stops the rollout too
    const missing = wave.filter((n) => outcomes.get(n)?.status !== 'ok');
    if (missing.length > 0) {
      rollout.stopped = { wave: index, target: missing[0] ?? '', detail: outcomes.get(missing[0] ?? '')?.error ?? 'did not take the release' };
      break;
    }
    if (index < waves.length - 1 && config.rollout.pauseMs > 0) {
      reporter.note(`pausing ${humanDuration(config.rollout.pauseMs)} before the next batch`);
      await sleep(config.rollout.pauseMs);
    }
  }
  // targets the rollout never reached: in place, never written; with slots, staged and not switched
  const why = rollout.stopped !== undefined ? `the rollout stopped at ${rollout.stopped.target} (${rollout.stopped.detail})` : holdSlots ? `${stageFailed.join(', ')} failed to stage, and switch: all keeps the farm on one version` : 'not reached';
  for (const p of plans) {
    const o = outcomes.get(p.name);
    if (o === undefined) outcomes.set(p.name, { name: p.name, from: p.from, mode: p.sync.kind, sent: 0, deleted: 0, bytes: 0, durationMs: 0, attempts: 0, status: 'failed', error: `not deployed: ${why}` });
    else if (p.slots?.switchTo !== undefined && o.status === 'ok' && o.switchedAt === undefined) outcomes.set(p.name, { ...o, status: 'failed', error: `staged in slot ${p.slots.switchTo}, not switched: ${why}` });
  }
  // a skew means something within one wave; across waves the checks and pauses are the gaps
  return { outcomes: plans.map((p) => outcomes.get(p.name)).filter((o): o is TargetOutcome => o !== undefined), rollout, took, switchSummary: waves.length > 1 ? undefined : switchSummary(switches, []) };
}
