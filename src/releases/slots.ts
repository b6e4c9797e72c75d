import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { targetNamed, type Config, type Target } from '../base/config.js';
import type { TargetPlan } from '../engine/target-plan.js';
import { destBelow } from '../base/dest.js';
import type { Commit } from '../base/git.js';
import type { HistoryEntry, Journal, TargetOutcome } from '../engine/journal.js';
import { withAncestors } from '../engine/sync-plan.js';
import { filesFromList } from '../transport/rsync-pass.js';
import { runRsync } from '../transport/rsync.js';
import type { Context } from '../engine/context.js';
import { rsyncWithRetries, type PassOptions } from '../engine/passes.js';
import { beginSwitch, slotLinked, switchFailed, switchSucceeded } from '../engine/state.js';
import { humanDuration } from '../engine/units.js';
import { ownSubdir } from '../base/trust.js';

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

/** Where a target's scratch symlinks are made for one deploy: a directory of fanout's own, emptied first. */
function scratch(config: Config, what: string): string {
  const dir = path.join(ownSubdir(config.stateDir, 'links'), what);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
}

/** A relative symlink `current -> slots/SLOT` in a scratch directory, made if it is not there yet. */
function currentLink(config: Config, slot: string): string {
  const dir = path.join(ownSubdir(config.stateDir, 'links'), `current-${slot}`);
  const link = path.join(dir, 'current');
  let made = false;
  try {
    made = fs.lstatSync(link).isSymbolicLink() && fs.readlinkSync(link) === `slots/${slot}`;
  } catch {
    made = false;
  }
  if (!made) {
    scratch(config, `current-${slot}`);
    fs.symlinkSync(`slots/${slot}`, link);
  }
  return dir;
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

/** A switch of one target's `current`, its rsync started and connected, waiting for the word. */
export interface ArmedSwitch {
  target: Target;
  slot: string;
  /** send it: resolves once rsync has answered (a fresh one, retried, if the waiting one was lost) */
  fire(): Promise<{ at: number | undefined; error: string | undefined; untouched: boolean }>;
  /** not switching after all: the waiting rsync is given an empty list and changes nothing */
  cancel(): void;
}

/**
 * Start the rsync that will switch `current` on a target, before it is needed: it connects (and,
 * for a daemon, authenticates) now and then waits for its file list, so that at the switch each
 * target is one short exchange away from the new release, and the farm switches within a few
 * milliseconds. One that times out while waiting is replaced by a fresh one at the switch.
 */
export function armSwitch(ctx: Context, target: Target, slot: string): ArmedSwitch {
  const { config, log } = ctx;
  const pass = { kind: 'links', from: currentLink(config, slot), names: ['current'] } as const;
  let give: (list: Buffer) => void = () => undefined;
  const list = new Promise<Buffer>((resolve) => {
    give = resolve;
  });
  const waiting = runRsync({ config, target, pass, dryRun: false, log, rsyncPath: config.rsync.path, maxDelete: undefined, deferredInput: list });
  return {
    target,
    slot,
    async fire() {
      give(filesFromList(pass));
      const outcome = await waiting;
      if (outcome.ok) return { at: Date.now(), error: undefined, untouched: false };
      log.warn({ target: target.name, error: outcome.error }, 'the waiting switch was lost; switching with a fresh rsync');
      const again = await rsyncWithRetries(ctx, target, pass, { dryRun: false, maxDelete: undefined });
      return again.outcome.ok ? { at: Date.now(), error: undefined, untouched: false } : { at: undefined, error: again.outcome.error ?? 'rsync failed', untouched: outcome.untouched && again.untouched };
    },
    cancel() {
      give(Buffer.alloc(0));
      void waiting;
    },
  };
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
    const repaired = await switchTargets(ctx, journal, [armSwitch(ctx, target, step.repair)]);
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
 * rsync, and the point is that the farm changes version together). The journal notes every switch
 * as begun before the first rsync starts, and each outcome once all have answered: killed in
 * between, the next deploy switches again.
 */
export async function switchTargets(ctx: Context, journal: Journal, switches: readonly ArmedSwitch[]): Promise<SwitchResult[]> {
  if (switches.length === 0) return [];
  // quiet: it takes milliseconds, and the lines after it say how it went
  ctx.reporter.progress({ kind: 'phase', name: 'switch', detail: `current on ${switches.length} target${switches.length === 1 ? '' : 's'}`, quiet: true });
  await journal.update((s) => {
    for (const { target, slot } of switches) beginSwitch(s, target.name, slot);
  });
  const results = await Promise.all(switches.map(async (armed) => ({ name: armed.target.name, slot: armed.slot, ...(await armed.fire()) })));
  await journal.update((s) => {
    for (const r of results) {
      if (r.at !== undefined) switchSucceeded(s, r.name, r.slot, new Date(r.at).toISOString());
      else switchFailed(s, r.name, `switching current to slot ${r.slot}: ${r.error ?? 'rsync failed'}`, r.untouched);
    }
  });
  for (const r of results) ctx.log[r.error === undefined ? 'info' : 'error']({ target: r.name, slot: r.slot, error: r.error }, 'switch');
  return results.map((r) => ({ name: r.name, slot: r.slot, at: r.at, error: r.error }));
}

/** A target's outcome once its switch has answered: failed, saying why, or live since when. */
export function switchedOutcome(outcome: TargetOutcome, result: SwitchResult): TargetOutcome {
  if (result.error !== undefined) return { ...outcome, status: 'failed', error: `switching current to slot ${result.slot}: ${result.error}` };
  return { ...outcome, slot: result.slot, switchedAt: new Date(result.at ?? Date.now()).toISOString() };
}

/** The switch across the farm: when the first target switched, and the skew to the last; undefined when none did. */
export function switchSummary(results: readonly SwitchResult[], held: string[]): HistoryEntry['switch'] {
  const times = results.map((r) => r.at).filter((t): t is number => t !== undefined);
  if (times.length === 0) return undefined;
  const first = Math.min(...times);
  return { at: new Date(first).toISOString(), skewMs: Math.max(...times) - first, switched: times.length, held };
}

/**
 * Phase two of a deploy with slots: once every target has staged, every target with a slot to go
 * live switches. With `switch: all` (the default) nobody switches if any target failed, so the
 * farm stays on one version; with `switch: available` those that staged switch. Returns each
 * target's final outcome and, when anything switched, the switch's time and skew.
 */
export async function switchFarm(
  ctx: Context,
  journal: Journal,
  plans: readonly TargetPlan[],
  staged: readonly TargetOutcome[],
  armed: ReadonlyMap<string, ArmedSwitch>,
  commit: Commit,
): Promise<{ outcomes: TargetOutcome[]; summary: { at: string; skewMs: number; switched: number; held: string[] } | undefined }> {
  const { config } = ctx;
  const failed = staged.filter((o) => o.status === 'failed').map((o) => o.name);
  const holdAll = config.switchPolicy === 'all' && failed.length > 0;
  const wanted = plans.filter((p) => p.slots?.switchTo !== undefined);
  const ready = wanted.filter((p) => staged.find((o) => o.name === p.name)?.status === 'ok');
  const going = holdAll ? [] : ready;
  for (const [name, a] of armed) if (!going.some((p) => p.name === name)) a.cancel();
  const results = await switchTargets(
    ctx,
    journal,
    going.map((p) => armed.get(p.name) ?? armSwitch(ctx, targetNamed(config, p.name), p.slots?.switchTo ?? '')),
  );
  const held = holdAll ? ready.map((p) => p.name) : [];
  const outcomes = staged.map((o): TargetOutcome => {
    const result = results.find((r) => r.name === o.name);
    if (result !== undefined) return switchedOutcome(o, result);
    if (held.includes(o.name)) {
      const slot = plans.find((p) => p.name === o.name)?.slots?.switchTo ?? '?';
      return { ...o, status: 'failed', slot, error: `staged ${commit.slice(0, 10)} in slot ${slot}, not switched: ${failed.join(', ')} failed, and switch: all keeps the farm on one version` };
    }
    return o;
  });
  const summary = switchSummary(results, held);
  if (summary === undefined) return { outcomes, summary };
  ctx.reporter.note(`switched current on ${summary.switched} target${summary.switched === 1 ? '' : 's'} within ${summary.skewMs} ms`);
  if (config.switchPolicy === 'available' && failed.length > 0) ctx.reporter.note(`not switched: ${failed.join(', ')} (they serve what they served; fanout sync catches them up)`);
  return { outcomes, summary };
}
