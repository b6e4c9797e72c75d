import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../base/config.js';
import { Refusal } from '../base/errors.js';
import { branchTip, type Commit } from '../base/git.js';
import { writeAtomically, type HistoryEntry, type State } from '../engine/journal.js';
import type { Context } from '../engine/context.js';

// push: pre-receive, the engine's side: git accepts a push only when its deploy succeeded, so the
// branch on the update server always names what the farm serves. This module says what
// succeeded means, which targets go back when it did not, and keeps two pushes from passing each
// other between a deploy's end and git's update of the branch.

/** A push deployed from the pre-receive hook: the branch held `old` when it began (null: the push creates it). */
export interface GatedPush {
  old: Commit | null;
  /** the commit pushed, as the pusher sent it (with build: its source, not the build) */
  pushed: Commit;
}

/**
 * Whether a deploy lets its push in, by the config's rule: every target took it; or, with slots and
 * a `switch:` that lets the farm go on without some (`available`, a share like `99%`), the farm
 * switched and the targets that failed are those left lagging: they serve what they served, and
 * fanout sync catches them up. So the farm serves the pushed commit where it can.
 */
export function pushSucceeded(config: Pick<Config, 'targets'>, entry: HistoryEntry): boolean {
  if (entry.error !== undefined || entry.rollout?.stopped !== undefined) return false;
  const failed = entry.targets.filter((t) => t.status === 'failed');
  if (failed.length === 0) return true;
  const slotted = (name: string): boolean => config.targets.find((t) => t.name === name)?.layout.kind === 'slots';
  const lagging = entry.switch?.lagging ?? [];
  return failed.every((t) => slotted(t.name) && lagging.includes(t.name));
}

/**
 * The targets of a rejected push's deploy that may no longer serve what the farm served before:
 * those that took it, and those it failed on after rsync began (half-written). A target it failed
 * on untouched holds `previous` as it did, and is not tried again.
 */
export function targetsToRestore(state: State, entry: HistoryEntry, previous: Commit): string[] {
  return entry.targets
    .map((t) => t.name)
    .filter((name) => {
      const t = state.targets[name];
      return t === undefined || t.commit !== previous || t.attempted.length > 0 || t.switching !== undefined;
    });
}

/** The line a rejected push ends with: what failed, and where the farm stands now (the journal after the deploy and its rollback). */
export function rejectionLine(entry: HistoryEntry, state: State): string {
  const previous = state.current?.commit === entry.commit ? null : (state.current?.commit ?? null);
  const failed = entry.targets.filter((t) => t.status === 'failed');
  const why =
    entry.rollout?.stopped !== undefined
      ? `the rollout stopped at ${entry.rollout.stopped.target} (${entry.rollout.stopped.detail})`
      : failed.length > 0
        ? failed.map((t) => `${t.name} failed (${t.error ?? 'unknown error'})`).join('; ')
        : (entry.error ?? 'the deploy failed');
  if (previous === null) return `push rejected: ${why}; there was no earlier release to put back, so the targets that took it keep it`;
  const off = targetsToRestore(state, entry, previous);
  const where = off.length === 0 ? `every target serves ${previous.slice(0, 10)} again` : `NOT put back on ${previous.slice(0, 10)}: ${off.join(', ')} (see fanout status; fanout sync when they are back)`;
  return `push rejected: ${why}; ${where}`;
}

/** How long the next push waits for git to write the branch an accepted push's deploy has served. */
const ACCEPTANCE_WAIT_MS = 15_000;

/** The mark an accepted push leaves until git has moved the branch (see settleAccepted). */
function markFile(config: Config): string {
  return path.join(config.stateDir, 'push-accepted.json');
}

interface AcceptedMark {
  old: Commit | null;
  pushed: Commit;
  at: string;
}

/** Written under the lock when a push's deploy succeeded: git moves the branch only after the hook has exited. */
export function markAccepted(config: Config, push: GatedPush): void {
  const mark: AcceptedMark = { old: push.old, pushed: push.pushed, at: new Date().toISOString() };
  writeAtomically(markFile(config), `${JSON.stringify(mark)}\n`, { mode: 0o600 });
}

/** git has moved the branch for an accepted push (the post-receive hook), or never will: the mark goes. */
export function clearAccepted(config: Config, pushed?: Commit): void {
  const mark = readMark(config);
  if (mark !== undefined && (pushed === undefined || mark.pushed === pushed)) fs.rmSync(markFile(config), { force: true });
}

function readMark(config: Config): AcceptedMark | undefined {
  try {
    return JSON.parse(fs.readFileSync(markFile(config), 'utf8')) as AcceptedMark;
  } catch {
    return undefined;
  }
}

/**
 * Before a push deploys, under the lock: the branch must still hold what it held when the push
 * began, or git would refuse to move it after the deploy. The push before may have been accepted
 * and its deploy served, while git has not yet moved the branch: that is waited for (a moment,
 * normally), so that this push is judged against the branch as it will be.
 */
export async function assertBranchUnmoved(ctx: Context, push: GatedPush): Promise<void> {
  const { config } = ctx;
  const tip = await settleAccepted(ctx);
  if (tip !== push.old) {
    const now = tip === null ? 'was deleted' : `is now at ${tip.slice(0, 10)}`;
    throw new Refusal(`${config.branch ?? ''} ${now}: another push landed while this one waited; nothing was deployed. Fetch, rebase or merge, and push again`, 1);
  }
}

/**
 * The branch tip once git has moved it for the push accepted last (a moment after that push's
 * hook exited, normally), or has given up on it: what a gated push is judged against, and the tip
 * a deploy of the branch takes.
 */
export async function settleAccepted(ctx: Context): Promise<Commit | null> {
  const { config } = ctx;
  let tip = (await branchTip(config.repo, config.branch)) ?? null;
  const mark = readMark(config);
  if (mark !== undefined && tip === mark.old) {
    const until = Date.now() + ACCEPTANCE_WAIT_MS;
    while (tip === mark.old && Date.now() < until) {
      await sleep(100);
      tip = (await branchTip(config.repo, config.branch)) ?? null;
    }
    if (tip === mark.old) ctx.log.warn({ pushed: mark.pushed, branch: config.branch }, 'an accepted push never moved the branch (git gave up on it); the farm serves it until this push replaces it');
  }
  clearAccepted(config);
  return tip;
}
