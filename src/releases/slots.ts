import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { targetNamed, type Target } from '../base/config.js';
import type { TargetPlan } from '../engine/target-plan.js';
import { destBelow } from '../base/dest.js';
import type { Commit } from '../base/git.js';
import type { HistoryEntry, Journal, TargetOutcome } from '../engine/journal.js';
import { withAncestors } from '../engine/sync-plan.js';
import type { Context } from '../engine/context.js';
import { rsyncWithRetries, type PassOptions } from '../engine/passes.js';
import { beginSwitch, laggedBehind, slotLinked, switchFailed, switchSucceeded } from '../engine/state.js';
import { humanDuration } from '../engine/units.js';
import { scratch } from './link-dirs.js';
import { fireSwitches, type SwitchAnswer, type SwitchesAhead, type SwitchTo } from './switch-pool.js';
import { decideSwitch, heldWhy, laggingNote, stagedFarm } from './switch-policy.js';

/**
 * Atomic releases (layout: slots), the parts that touch targets: a target's dest holds `slots/1`
 * .. `slots/N`, a relative symlink `current` to the live one, and `shared/`. A deploy stages the
 * commit into a slot nothing serves (deploy.ts, like any transfer), then switches `current` on
 * every target at once. Everything goes through rsync: a symlink made in a scratch directory and
 * sent with --links replaces the old one by a rename, in one step on each host.
 */

/** The rsync destination a target's deploy writes: its dest, or the slot it stages. */
export function writtenTarget(target: Target, plan: TargetPlan): Target {
  const slot = plan.slots?.stage?.slot;
  return slot === undefined ? target : { ...target, dest: destBelow(target.dest, `slots/${slot}`) };
}

/** The rsync options for writing a slot (no --delay-updates, shared paths left alone, the first slot seeded). */
export function stagingOf(target: Target, plan: TargetPlan): PassOptions['staging'] {
  const stage = plan.slots?.stage;
  if (stage === undefined || target.layout.kind !== 'slots') return undefined;
  return { shared: target.layout.shared, seedFrom: stage.seedFrom, copyFrom: stage.copyFrom };
}

/**
 * revisionFile: the deployed sha written into the tree just written (the target in place, or the
 * slot staged), so that a check can prove which release the web server really serves.
 */
export async function writeRevision(ctx: Context, target: Target, commit: Commit): Promise<string | undefined> {
  const file = ctx.config.revisionFile;
  if (file === undefined) return undefined;
  const dir = scratch(ctx.config, `revision-${target.name}`);
  fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
  // a PHP revision file is code (`<?php return 'SHA';`): included by a health page, it is
  // compiled and cached by opcache like the application, so a check on it proves which code runs
  fs.writeFileSync(path.join(dir, file), file.endsWith('.php') ? `<?php return '${commit}';\n` : `${commit}\n`, { mode: 0o644 });
  const result = await rsyncWithRetries(ctx, target, { kind: 'links', from: dir, names: withAncestors([file]) }, { dryRun: false, maxDelete: undefined });
  return result.outcome.ok ? undefined : `writing ${file}: ${result.outcome.error ?? 'rsync failed'}`;
}

/**
 * Before anything is staged: wait out the slot's grace, pin `current` after a switch cut short,
 * and link the shared paths into the slot (each `slots/N/PATH -> ../../shared/PATH`, and
 * `shared/PATH` made if missing, never changed). Returns why the target fails, or undefined.
 */
export async function prepareSlot(ctx: Context, journal: Journal, target: Target, plan: TargetPlan): Promise<string | undefined> {
  const step = plan.slots;
  if (step === undefined) return undefined;
  if (step.repair !== undefined) {
    const repaired = await switchTargets(ctx, journal, [{ target, slot: step.repair }]);
    const failure = repaired[0]?.error;
    if (failure !== undefined) return `a switch cut short could not be finished: ${failure}`;
  }
  const stage = step.stage;
  if (stage === undefined) return undefined;
  const wait = (stage.notBefore ?? 0) - Date.now();
  if (wait > 0) {
    ctx.reporter.note(`${target.name}: slot ${stage.slot} was live moments ago; waiting ${humanDuration(wait)} for the requests still running on it (slotGrace)`);
    await sleep(wait);
  }
  if (!stage.link || target.layout.kind !== 'slots') return undefined;
  const shared = target.layout.shared;
  const dir = scratch(ctx.config, `slot-${stage.slot}-${target.name}`);
  const names: string[] = [`slots/${stage.slot}`];
  fs.mkdirSync(path.join(dir, 'slots', stage.slot), { recursive: true });
  for (const p of shared) {
    fs.mkdirSync(path.join(dir, 'shared', p), { recursive: true });
    const link = path.join(dir, 'slots', stage.slot, p);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    const depth = p.split('/').length + 1;
    fs.symlinkSync(`${'../'.repeat(depth)}shared/${p}`, link);
    names.push(`shared/${p}`, `slots/${stage.slot}/${p}`);
  }
  const result = await rsyncWithRetries(ctx, target, { kind: 'links', from: dir, names: withAncestors(names), keepDirLinks: true }, { dryRun: false, maxDelete: undefined });
  if (!result.outcome.ok) return `the shared paths could not be linked into slot ${stage.slot}: ${result.outcome.error ?? 'rsync failed'}`;
  await journal.update((s) => {
    slotLinked(s, target.name, stage.slot, shared);
  });
  return undefined;
}

export interface SwitchResult {
  name: string;
  slot: string;
  /** when rsync reported the switch done */
  at: number | undefined;
  error: string | undefined;
}

/**
 * Switch `current` on these targets, all at once (not bounded by `concurrency`: each is one tiny
 * rsync, and the point is that the farm changes version together): the armed ones fired, the
 * others started afresh as armed ones answer, never more than the bound (switch-pool.ts). The
 * journal notes every switch as begun before the first rsync starts, and each outcome as it
 * answers: killed in between, the next deploy switches again those not yet noted. `onSwitched` is
 * told of each target that serves its slot now, the moment its switch answers: a dead host's
 * retries hold up no other.
 */
export async function switchTargets(ctx: Context, journal: Journal, switches: readonly SwitchTo[], ahead?: SwitchesAhead, onSwitched?: (switched: SwitchTo) => void): Promise<SwitchResult[]> {
  if (switches.length === 0) return [];
  // quiet: it takes milliseconds, and the lines after it say how it went
  ctx.reporter.progress({ kind: 'phase', name: 'switch', detail: `current on ${switches.length} target${switches.length === 1 ? '' : 's'}`, quiet: true });
  await journal.update((s) => {
    for (const { target, slot } of switches) beginSwitch(s, target.name, slot);
  });
  const noted: Promise<void>[] = [];
  const onAnswer = (i: number, answer: SwitchAnswer): void => {
    const { target, slot } = switches[i] ?? {};
    if (target === undefined || slot === undefined) return;
    if (answer.at !== undefined) onSwitched?.({ target, slot });
    const note = journal.note((s) => {
      if (answer.at !== undefined) switchSucceeded(s, target.name, slot, new Date(answer.at).toISOString());
      else switchFailed(s, target.name, `switching current to slot ${slot}: ${answer.error ?? 'rsync failed'}`, answer.untouched);
    });
    // a write that fails is thrown once every switch has answered (below), not left unhandled meanwhile
    note.catch(() => undefined);
    noted.push(note);
    ctx.log[answer.error === undefined ? 'info' : 'error']({ target: target.name, slot, error: answer.error }, 'switch');
  };
  const answers = await fireSwitches(ctx, switches, ahead, { onAnswer });
  // the last notes are written now, not after the group commit's wait
  await journal.flush();
  await Promise.all(noted);
  return switches.map((s, i) => ({ name: s.target.name, slot: s.slot, at: answers[i]?.at, error: answers[i]?.error }));
}

/** A target's outcome once its switch has answered: failed, saying why, or live since when. */
export function switchedOutcome(outcome: TargetOutcome, result: SwitchResult): TargetOutcome {
  if (result.error !== undefined) return { ...outcome, status: 'failed', error: `switching current to slot ${result.slot}: ${result.error}` };
  return { ...outcome, slot: result.slot, switchedAt: new Date(result.at ?? Date.now()).toISOString() };
}

/**
 * The switch across the farm: when the first target switched, and the skew to the last (with a
 * rollout in waves, the largest within one wave: between waves the checks and pauses are the
 * gaps); undefined when none switched.
 */
export function switchSummary(waves: readonly (readonly SwitchResult[])[], held: string[], lagging: string[]): HistoryEntry['switch'] {
  let first: number | undefined;
  let skewMs = 0;
  let switched = 0;
  for (const wave of waves) {
    const times = wave.map((r) => r.at).filter((t): t is number => t !== undefined);
    if (times.length === 0) continue;
    const start = Math.min(...times);
    first = Math.min(first ?? start, start);
    skewMs = Math.max(skewMs, Math.max(...times) - start);
    switched += times.length;
  }
  if (first === undefined) return undefined;
  return { at: new Date(first).toISOString(), skewMs, switched, held, lagging };
}

/** The targets the farm switched without lag behind `commit` until they switch too (journal, status, metrics). */
export async function recordLagging(journal: Journal, lagging: readonly string[], commit: Commit): Promise<void> {
  if (lagging.length === 0) return;
  const at = new Date().toISOString();
  await journal.update((s) => {
    for (const name of lagging) laggedBehind(s, name, commit, at);
  });
}

/** Those of `names` that did not switch while others did: they lag. None when nobody switched. */
export function laggingAfter(names: readonly string[], results: readonly SwitchResult[]): string[] {
  if (!results.some((r) => r.at !== undefined)) return [];
  const failed = results.filter((r) => r.at === undefined).map((r) => r.name);
  return [...new Set([...names, ...failed])];
}

/**
 * Phase two of a deploy with slots: once every target has staged, every target with a slot to go
 * live switches, if the share of the farm `switch:` asks for has the release (switch-policy.ts):
 * with `all` (the default) nobody switches if any target failed, so the farm stays on one
 * version; with `available` or a share, those that staged switch and the others lag. Returns each
 * target's final outcome and, when anything switched, the switch's time and skew; `onSwitched`
 * is told of each target that serves the release, as its switch answers.
 */
export async function switchFarm(
  ctx: Context,
  journal: Journal,
  plans: readonly TargetPlan[],
  staged: readonly TargetOutcome[],
  ahead: SwitchesAhead,
  commit: Commit,
  onSwitched?: (switched: SwitchTo) => void,
): Promise<{ outcomes: TargetOutcome[]; summary: HistoryEntry['switch'] }> {
  const { config } = ctx;
  const byName = new Map(plans.map((p) => [p.name, p]));
  const farm = stagedFarm(config, journal.state, plans, new Map(staged.map((o) => [o.name, o])), commit);
  const decision = decideSwitch(config.switchQuorum, farm);
  const slotOf = (name: string): string => byName.get(name)?.slots?.switchTo ?? '?';
  const results = await switchTargets(
    ctx,
    journal,
    decision.switching.map((name) => ({ target: targetNamed(config, name), slot: slotOf(name) })),
    ahead,
    onSwitched,
  );
  const byResult = new Map(results.map((r) => [r.name, r]));
  const lagging = laggingAfter(decision.lagging.filter((n) => byName.get(n)?.slots !== undefined), results);
  await recordLagging(journal, lagging, commit);
  const held = new Set(decision.held);
  const outcomes = staged.map((o): TargetOutcome => {
    const result = byResult.get(o.name);
    if (result !== undefined) return switchedOutcome(o, result);
    if (!held.has(o.name)) return o;
    return { ...o, status: 'failed', slot: slotOf(o.name), error: `staged ${commit.slice(0, 10)} in slot ${slotOf(o.name)}, not switched: ${heldWhy(config.switchQuorum, decision, farm.missing)}` };
  });
  const summary = switchSummary([results], [...decision.held], lagging);
  if (summary === undefined) return { outcomes, summary };
  ctx.reporter.note(`switched current on ${summary.switched} target${summary.switched === 1 ? '' : 's'} within ${summary.skewMs} ms`);
  if (lagging.length > 0) ctx.reporter.note(laggingNote(lagging));
  return { outcomes, summary };
}
