import type { DeployPlan } from './deploy-plan.js';
import type { TargetPlan } from '../engine/target-plan.js';
import type { Commit } from '../base/git.js';
import { Journal, type HistoryEntry, type State, type TargetOutcome } from '../engine/journal.js';
import { countDeploy, deployFailed, deployFinished, deployRefused, forgetOtherSlots, releaseJudged } from '../engine/state.js';
import type { BuildFacts } from '../build/build.js';
import type { HookFacts } from '../releases/operator-hooks.js';
import type { DeployRequest } from './deploy.js';
import { whoOf } from './identity.js';

// A deploy's record: the history entry it writes, its end in the journal, and what the operator's
// hooks are told of it.

/** What the hooks are told of a deploy. */
export function hookFacts(started: Started, plan: PlannedDeploy): HookFacts {
  return { deployId: started.id, commit: plan.commit, reason: started.request.reason, startedBy: started.request.startedBy, ...whoOf(started.request), targets: plan.targets.map((t) => t.name) };
}

export function hookFactsOf(entry: HistoryEntry): HookFacts {
  return { deployId: entry.id, commit: entry.commit, reason: entry.reason, startedBy: entry.startedBy, ...whoOf(entry), targets: entry.targets.map((t) => t.name) };
}

/** A deploy under way, for its history entry. */
export interface Started {
  id: number;
  at: Date;
  subject: string;
  request: DeployRequest;
  /** with build: the source commit and its build */
  build: BuildFacts | undefined;
}

export function historyEntry(started: Started, commit: Commit, targets: TargetOutcome[], more: Partial<HistoryEntry> = {}): HistoryEntry {
  const { request } = started;
  const build = started.build === undefined ? {} : { build: { source: started.build.source, reused: started.build.reused, durationMs: started.build.durationMs } };
  const overrode = request.overrodeLock === undefined ? {} : { overrodeLock: request.overrodeLock };
  return { id: started.id, startedAt: started.at.toISOString(), finishedAt: new Date().toISOString(), commit, subject: started.subject, reason: request.reason, startedBy: request.startedBy, ...whoOf(request), ...overrode, ...build, ...more, targets };
}

export type PlannedDeploy = Extract<DeployPlan, { kind: 'deploy' }>;

/** A deploy's end, in the journal's state. */
export function finished(s: State, plan: PlannedDeploy, started: Started, entry: HistoryEntry): void {
  deployFinished(s, started.id, plan.commit, entry.finishedAt);
  releaseJudged(s, entry);
  // a repair (sync --full) vouches for the slot it wrote; the others are no longer vouched for
  if (plan.repair) for (const t of plan.targets) if (t.slots?.stage !== undefined) forgetOtherSlots(s, t.name, [t.slots.stage.slot]);
}

/** A deploy's end in the journal: its state change and its count, then its line in the history. */
export async function record(journal: Journal, entry: HistoryEntry, change: (s: State) => void): Promise<void> {
  await journal.update((s) => {
    change(s);
    countDeploy(s, entry, () => journal.readHistory());
  });
  journal.appendHistory(entry);
}

/**
 * A refusal's record: the journal notes it (status says why the tip is not deployed) and uses its
 * id, then its line in the history says it was refused and with which line. It is no deploy: no
 * counter counts it.
 */
export async function recordRefusal(journal: Journal, entry: HistoryEntry & { refused: string }): Promise<void> {
  await journal.update((s) => {
    deployRefused(s, entry.commit, entry.refused, entry.finishedAt);
    deployFailed(s, entry.id);
  });
  journal.appendHistory(entry);
}

export function outcomeBase(target: TargetPlan): Omit<TargetOutcome, 'status'> {
  return { name: target.name, from: target.from, mode: target.sync.kind, sent: 0, deleted: 0, bytes: 0, durationMs: 0, attempts: 0 };
}
