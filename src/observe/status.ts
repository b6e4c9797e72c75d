import type { Commit } from '../base/git.js';
import { isDeploy, type HistoryEntry, type State, type TargetState } from '../engine/journal.js';
import { isLagging, upToDate } from '../engine/state.js';
import type { WatchState } from '../watch/watcher-state.js';

export type TargetHealth = 'ok' | 'behind' | 'lagging' | 'failed' | 'unknown';

export interface TargetStatus {
  name: string;
  health: TargetHealth;
  commit: Commit | null;
  at: string | null;
  error: string | undefined;
  /** layout: slots: the slot `current` points to, and what every slot holds */
  live?: string | null;
  /** `unknown`: it was written once, but what it holds is no longer vouched for (after sync --full) */
  slots?: { slot: string; commit: Commit | null; state: 'complete' | 'failed' | 'cut short' | 'unknown' }[];
  /** `lagging`: the farm switched to the current deploy without it, first at `since` */
  lagging?: { commit: Commit; since: string };
}

/** A target's slots in a few words: "slot 2 live; slot 1 holds 0123456789". */
export function slotsLine(status: TargetStatus): string | undefined {
  if (status.slots === undefined) return undefined;
  const others = status.slots
    .filter((s) => s.slot !== status.live)
    .map((s) => `slot ${s.slot} ${s.state === 'complete' ? (s.commit === null ? 'holds nothing' : `holds ${s.commit.slice(0, 10)}`) : s.state === 'unknown' ? 'holds what no record vouches for (sync --full left it)' : `${s.state}${s.commit === null ? '' : ` (had ${s.commit.slice(0, 10)})`}`}`);
  return [status.live == null ? 'no slot live yet' : `slot ${status.live} live`, ...others].join('; ');
}

/** What `fanout sync` with no --target catches up: every target that is not ok. */
export function targetsToSync(names: readonly string[], state: State): string[] {
  return targetStatuses(names, state)
    .filter((s) => s.health !== 'ok')
    .map((s) => s.name);
}

/**
 * Each target against the current deploy: `ok` has it (and no edit made outside git that it
 * lacks), `behind` completely holds an older commit (or lacks such edits), `lagging` the farm
 * switched to it without this target (it failed, and `switch:` let the others go: it serves its
 * old release until caught up), `failed` its last attempt failed (or was cut short), `unknown`
 * never deployed or state lost.
 */
export function targetStatuses(names: readonly string[], state: State): TargetStatus[] {
  const current = state.current?.commit ?? null;
  return names.map((name): TargetStatus => {
    const t = state.targets[name];
    if (t === undefined || t.commit === null) {
      return { name, health: t?.status === 'failed' ? 'failed' : 'unknown', commit: null, at: t?.at ?? null, error: t?.error };
    }
    const cutShort = t.switching !== undefined ? `a switch of current to slot ${t.switching} was cut short: it points to that slot or to slot ${t.live ?? '?'}; the next deploy switches again` : 'a deploy was cut short';
    const lagging = t.switching === undefined && isLagging(t, current);
    const health: TargetHealth = lagging ? 'lagging' : t.status === 'failed' || t.attempted.length > 0 || t.switching !== undefined ? 'failed' : upToDate(t, current) ? 'ok' : 'behind';
    const status: TargetStatus = { name, health, commit: t.commit, at: t.at, error: health === 'failed' ? (t.switching !== undefined ? cutShort : (t.error ?? cutShort)) : lagging ? laggingDetail(t) : undefined };
    if (lagging && t.lagging !== undefined) status.lagging = t.lagging;
    if (t.slots !== undefined) {
      status.live = t.live ?? null;
      status.slots = Object.entries(t.slots)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([slot, held]) => ({ slot, commit: held.commit, state: held.attempted.length > 0 ? 'cut short' : held.status === 'failed' ? 'failed' : held.commit === null && held.at !== null ? 'unknown' : 'complete' }));
    }
    return status;
  });
}

/** Why a target lags, for its row: what it serves, and why it was left behind (its last error). */
function laggingDetail(t: TargetState): string {
  const why = t.status === 'failed' && t.error !== undefined ? `: ${t.error}` : '';
  return `not switched, serves its old release; fanout sync catches it up${why}`;
}

/** Who made a deploy, and why when they said: from its history entry. */
export type CurrentBy = Pick<HistoryEntry, 'startedBy' | 'user' | 'message'>;

export function currentByOf(entry: HistoryEntry): CurrentBy {
  return { startedBy: entry.startedBy, ...(entry.user === undefined ? {} : { user: entry.user }), ...(entry.message === undefined ? {} : { message: entry.message }) };
}

/** What the current deploy was, from its history entry: who chose it and how, and with build what it was built from. */
export type CurrentDeploy = Pick<HistoryEntry, 'id' | 'reason' | 'startedBy' | 'build'>;

/** Whether the farm serves the branch tip, and if not, why; `failing`: status says so with its exit code. */
export interface TipStatus {
  deployed: boolean;
  why: string | undefined;
  failing: boolean;
}

/**
 * The branch tip against what the farm serves. Not deployed, it fails status (a push that was
 * refused, a release a check failed on, a deploy that never ran), unless an operator chose what
 * the farm serves (fanout rollback, or fanout deploy REV): then it is said, and not a failure.
 */
export function tipStatus(tip: Commit | null, state: State, current: CurrentDeploy | undefined): TipStatus {
  if (tip === null || state.current?.commit === tip || current?.build?.source === tip) return { deployed: true, why: undefined, failing: false };
  const { refused, rejected } = state;
  if (refused?.commit === tip) return { deployed: false, why: `refused: ${refused.why}`, failing: true };
  if (rejected !== undefined && (rejected.commit === tip || rejected.source === tip)) return { deployed: false, why: `it failed its check on ${rejected.target} in deploy #${rejected.deployId} (${rejected.detail})`, failing: true };
  if (state.current !== null && (current?.reason === 'rollback' || current?.reason === 'manual')) {
    return { deployed: false, why: `${current.startedBy} chose what the farm serves with fanout ${current.reason === 'rollback' ? 'rollback' : 'deploy'} (deploy #${current.id}); fanout deploy sends the tip`, failing: false };
  }
  return { deployed: false, why: 'no deploy of it has finished (fanout deploy)', failing: true };
}

/** The line status prints for a release a check failed on, while it is rejected. */
export function rejectedLine(rejected: NonNullable<State['rejected']>): string {
  return `release ${rejected.commit.slice(0, 10)} failed its check on ${rejected.target} in deploy #${rejected.deployId} (${rejected.detail}): fanout sends it to no more hosts (push a fix, or fanout rollback; --force sends it anyway)`;
}

/** Everything `fanout status` says, decided from data: the journal, watch's state, the branch tip. */
export interface FarmStatus {
  ok: boolean;
  current: State['current'];
  branchTip: Commit | null;
  tip: TipStatus;
  targets: TargetStatus[];
  /** watch's own line and whether it counts as a failure, when watch ever ran */
  watch: { line: string; failing: boolean } | undefined;
  /** why the last checkout into the source failed, if it did */
  sourceError: string | undefined;
}

export function farmStatus(names: readonly string[], state: State, tip: Commit | undefined, watch: FarmStatus['watch'], current?: CurrentDeploy): FarmStatus {
  const targets = targetStatuses(names, state);
  const sourceError = state.source.error;
  const tipState = tipStatus(tip ?? null, state, current);
  const ok = targets.every((t) => t.health === 'ok') && watch?.failing !== true && sourceError === undefined && !tipState.failing;
  return { ok, current: state.current, branchTip: tip ?? null, tip: tipState, targets, watch, sourceError };
}

/**
 * `fanout status --json`: the farm status with each commit's subject, watch's own state and the
 * source's. `subjects` maps each commit named to its subject.
 */
export function statusDocument(status: FarmStatus, subjects: ReadonlyMap<string, string>, watchState: WatchState | undefined, state: Pick<State, 'source' | 'rejected'>, autoRollback?: AutoRollback, build?: HistoryEntry['build'], by?: CurrentBy): Record<string, unknown> {
  const { current } = status;
  return {
    ok: status.ok,
    current: current === null ? null : { ...current, subject: subjects.get(current.commit), build: build ?? null, ...by },
    branchTip: status.branchTip,
    branchTipDeployed: status.tip.deployed,
    branchTipProblem: status.tip.why ?? null,
    rejected: state.rejected ?? null,
    targets: status.targets.map((t) => ({ ...t, subject: t.commit === null ? null : subjects.get(t.commit) })),
    watch: watchState === undefined ? null : { ...watchState, failing: status.watch?.failing ?? false },
    source: { commit: state.source.commit, error: status.sourceError ?? null },
    autoRollback: autoRollback ?? null,
  };
}

/** The last deploy, when it was an automatic rollback: what failed, where, and why. */
export interface AutoRollback {
  /** the deploy whose check failed, and its commit */
  deployId: number;
  commit: string;
  target: string;
  detail: string;
  /** the commit the farm went back to */
  back: string;
}

export function lastAutoRollback(history: readonly HistoryEntry[]): AutoRollback | undefined {
  // a refusal since is no deploy: the rollback is still the last one
  const last = history.findLast(isDeploy);
  if (last?.reason !== 'auto-rollback') return undefined;
  const failed = [...history].reverse().find((e) => e.rollout?.stopped !== undefined);
  const stopped = failed?.rollout?.stopped;
  if (failed === undefined || stopped === undefined) return undefined;
  return { deployId: failed.id, commit: failed.commit, target: stopped.target, detail: stopped.detail, back: last.commit };
}

export function autoRollbackLine(rollback: AutoRollback): string {
  return `rolled back automatically: deploy #${rollback.deployId} of ${rollback.commit.slice(0, 10)} failed its check on ${rollback.target} (${rollback.detail}); the farm went back to ${rollback.back.slice(0, 10)}`;
}
