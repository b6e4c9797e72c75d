import type { Commit } from '../base/git.js';
import { isDeploy, type HistoryEntry, type SlotState, type State, type TargetState, type TreeState } from './journal.js';
import type { RelPath } from '../base/paths.js';

/**
 * The journal's transitions, each a change to a State and nothing else: the engine applies them
 * through Journal.update, and they are tested with plain data. One predicate says whether a target
 * is up to date; the engine's coalescing, `fanout status` and `fanout sync` all ask it.
 */

/** The target has `commit` completely: no attempt since cut short, no edit made outside git it lacks. */
export function upToDate(target: TargetState | undefined, commit: Commit | null): boolean {
  return holdsCompletely(target, commit) && target?.switching === undefined;
}

/**
 * The target lags: the farm switched to the current deploy without it (lagging behind that very
 * commit, noted by laggedBehind), and it does not have it yet. A note left from an older deploy
 * means nothing once the farm has moved on.
 */
export function isLagging(target: TargetState | undefined, current: Commit | null): boolean {
  return target?.lagging !== undefined && current !== null && target.lagging.commit === current && !upToDate(target, current);
}

/** A tree (a target in place, or a slot) holds `commit` completely: ok, nothing cut short, no edit made outside git it lacks. */
export function holdsCompletely(tree: TreeState | undefined, commit: Commit | null): boolean {
  return tree !== undefined && commit !== null && tree.status === 'ok' && tree.commit === commit && tree.attempted.length === 0 && (tree.dirty ?? []).length === 0;
}

/** The source holds `commit` completely. */
export function sourceHolds(state: State, commit: Commit): boolean {
  return state.source.commit === commit && state.source.attempted.length === 0;
}

function targetOf(state: State, name: string): TargetState {
  return (state.targets[name] ??= { commit: null, at: null, status: 'failed', attempted: [] });
}

/** The tree a transfer writes: the target in place, or one of its slots. */
function treeOf(state: State, name: string, slot: string | undefined): TreeState {
  const t = targetOf(state, name);
  if (slot === undefined) return t;
  t.slots ??= {};
  return (t.slots[slot] ??= { commit: null, at: null, status: 'failed', attempted: [] });
}

function addDirty(tree: TreeState, paths: readonly RelPath[]): void {
  if (paths.length > 0) tree.dirty = [...new Set([...(tree.dirty ?? []), ...paths])];
}

/**
 * Before rsync starts on a target (or one of its slots): if fanout dies mid-transfer, the next run
 * knows the tree may hold any mix of this commit's files, and which paths changed outside git it
 * still lacks. Staging a slot, the others and the live site lack those paths too until switched.
 */
export function beginTransfer(state: State, name: string, commit: Commit, outsidePaths: readonly RelPath[], slot?: string): void {
  const t = treeOf(state, name, slot);
  if (!t.attempted.includes(commit)) t.attempted.push(commit);
  addDirty(t, outsidePaths);
  if (slot !== undefined) {
    const target = targetOf(state, name);
    addDirty(target, outsidePaths);
    for (const other of Object.values(target.slots ?? {})) addDirty(other, outsidePaths);
  }
}

/** The tree received `commit` completely (an unchanged tree too): it holds that, and nothing else is pending. */
export function transferSucceeded(state: State, name: string, commit: Commit, at: string, slot?: string): void {
  if (slot === undefined) {
    state.targets[name] = { commit, at, status: 'ok', attempted: [] };
    return;
  }
  const held = treeOf(state, name, slot) as SlotState;
  const next: SlotState = { commit, at, status: 'ok', attempted: [] };
  if (held.retiredAt !== undefined) next.retiredAt = held.retiredAt;
  if (held.linked !== undefined) next.linked = held.linked;
  targetOf(state, name).slots = { ...targetOf(state, name).slots, [slot]: next };
}

/**
 * The transfer failed. The tree keeps the commit it had; the attempt stays noted (its next sync
 * is a full pass) unless every rsync was refused before anything moved and this commit had not
 * been tried there before. A slot's failure is the target's too (status says so), though it
 * still serves its live slot.
 */
export function transferFailed(state: State, name: string, commit: Commit, error: string, how: { untouched: boolean; alreadyAttempted: boolean }, slot?: string): void {
  const t = treeOf(state, name, slot);
  t.status = 'failed';
  t.error = error;
  if (how.untouched && !how.alreadyAttempted) t.attempted = t.attempted.filter((c) => c !== commit);
  if (slot !== undefined) refusedBeforeTransfer(state, name, error);
}

/**
 * A transfer recorded as begun that never started (the slot it was to stage could not be
 * prepared): its attempt is withdrawn, unless this commit was tried there before, and the target
 * fails with the error. What beginTransfer noted of paths changed outside git stays: the tree
 * lacks them still.
 */
export function transferNotBegun(state: State, name: string, commit: Commit, error: string, alreadyAttempted: boolean, slot?: string): void {
  if (!alreadyAttempted) {
    const t = treeOf(state, name, slot);
    t.attempted = t.attempted.filter((c) => c !== commit);
  }
  refusedBeforeTransfer(state, name, error);
}

/** Refused before any transfer (a dry run said no, or the target could not be asked): only the error changes. */
export function refusedBeforeTransfer(state: State, name: string, error: string): void {
  const t = targetOf(state, name);
  t.status = 'failed';
  t.error = error;
}

/**
 * After a full pass asked for (`sync --full`, the repair verify suggests) into one slot: the other
 * slots' records are no longer vouched for (what drifted may be in them too), so every one but the
 * live one and those named is forgotten. Its next deploy is a full pass, and no rollback switches
 * to it unchecked.
 */
export function forgetOtherSlots(state: State, name: string, keep: readonly string[]): void {
  const t = state.targets[name];
  if (t?.slots === undefined) return;
  for (const [slot, held] of Object.entries(t.slots)) {
    if (slot === t.live || keep.includes(slot) || held.commit === null) continue;
    const forgotten: SlotState = { commit: null, at: held.at, status: 'ok', attempted: [] };
    if (held.retiredAt !== undefined) forgotten.retiredAt = held.retiredAt;
    if (held.linked !== undefined) forgotten.linked = held.linked;
    t.slots[slot] = forgotten;
  }
}

/** A slot's shared links were made, as `shared` lists them. */
export function slotLinked(state: State, name: string, slot: string, shared: readonly string[]): void {
  (treeOf(state, name, slot) as SlotState).linked = [...shared];
}

/** Before `current` is switched: until the switch is seen to finish, it may point to either slot. */
export function beginSwitch(state: State, name: string, slot: string): void {
  targetOf(state, name).switching = slot;
}

/**
 * `current` points to `slot`: the target serves what the slot holds. The slot it left is retired
 * now, and nothing is staged into it for slotGrace.
 */
export function switchSucceeded(state: State, name: string, slot: string, at: string): void {
  const t = targetOf(state, name);
  const slots = { ...t.slots };
  const previous = t.live;
  if (previous != null && previous !== slot && slots[previous] !== undefined) slots[previous] = { ...slots[previous], retiredAt: at };
  const live = slots[slot] ?? { commit: null, at: null, status: 'failed', attempted: [] };
  const next: TargetState = { commit: live.commit, at, status: 'ok', attempted: [], slots, live: slot };
  if ((live.dirty ?? []).length > 0) next.dirty = live.dirty;
  state.targets[name] = next;
}

/**
 * The switch failed. Refused before anything moved, `current` is as it was; otherwise it may
 * point to either slot, and the next deploy switches again.
 */
export function switchFailed(state: State, name: string, error: string, untouched: boolean): void {
  const t = targetOf(state, name);
  t.status = 'failed';
  t.error = error;
  if (untouched) delete t.switching;
}

/**
 * The farm switched to `commit` without this target (it failed to stage or to switch, and the
 * policy let the others go): it serves its live slot still, and lags until it switches too
 * (switchSucceeded starts its record anew). Lagging again, it keeps the time it first fell behind.
 */
export function laggedBehind(state: State, name: string, commit: Commit, at: string): void {
  const t = targetOf(state, name);
  t.lagging = { commit, since: t.lagging?.since ?? at };
}

/** Before the checkout writes into the source: a checkout cut short is redone in full next time. */
export function beginCheckout(state: State, commit: Commit): void {
  if (!state.source.attempted.includes(commit)) state.source.attempted.push(commit);
}

/** The source holds `commit` completely; any earlier checkout failure is over. */
export function checkoutSucceeded(state: State, commit: Commit): void {
  state.source = { commit, attempted: [] };
}

/**
 * The source is not what the journal says (a symlink made by hand where git has a directory): the
 * next deploy rebuilds it as the commit exactly, and status shows why until then.
 */
export function sourceUntraceable(state: State, error: string): void {
  state.source = { commit: null, attempted: [], untraceable: true, error };
}

/** The checkout failed (the file system refused): the deploy id is used, and status shows why. */
export function checkoutFailed(state: State, deployId: number, error: string): void {
  state.nextDeployId = deployId + 1;
  state.source.error = error;
}

/** A deploy stopped before any target was written (a failed build, a refusal): its id is used. */
export function deployFailed(state: State, deployId: number): void {
  state.nextDeployId = deployId + 1;
}

/** How a deploy went, for the counters: every target ok, some failed, or none took it (or a check stopped it). */
export type DeployOutcome = 'ok' | 'partial' | 'failed';

export function deployOutcome(entry: HistoryEntry): DeployOutcome {
  const failed = entry.targets.filter((t) => t.status === 'failed').length;
  if (entry.error !== undefined || entry.rollout?.stopped !== undefined || (failed > 0 && failed === entry.targets.length)) return 'failed';
  return failed > 0 ? 'partial' : 'ok';
}

/** The counters' key for a deploy: its reason and its outcome. */
export function deployKey(entry: HistoryEntry): string {
  return `${entry.reason} ${deployOutcome(entry)}`;
}

/** Deploys by reason and outcome, counted from a history (dry runs and refusals aside). */
export function countDeploys(entries: readonly HistoryEntry[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const entry of entries) if (entry.dryRun !== true && isDeploy(entry)) counts[deployKey(entry)] = (counts[deployKey(entry)] ?? 0) + 1;
  return counts;
}

/**
 * One more deploy in the counters. A journal from before they existed is seeded from its history
 * first (read only then), so that no counter starts again from zero.
 */
export function countDeploy(state: State, entry: HistoryEntry, history: () => readonly HistoryEntry[]): void {
  state.deploys ??= countDeploys(history());
  if (entry.dryRun === true || !isDeploy(entry)) return;
  state.deploys[deployKey(entry)] = (state.deploys[deployKey(entry)] ?? 0) + 1;
}

/** A target's check failed on the release it now serves: failed, with the check's answer, until it takes another. */
export function checkFailed(state: State, name: string, detail: string): void {
  const t = targetOf(state, name);
  t.status = 'failed';
  t.error = `check failed: ${detail}`;
}

/**
 * What a finished deploy says of its release: a failed check makes it the rejected one; a deploy of
 * another commit (not the automatic rollback, which is the failed deploy's own end), or of the same
 * commit whose every check passed, ends that. Its commit is no longer refused.
 */
export function releaseJudged(state: State, entry: HistoryEntry): void {
  if (state.refused !== undefined && (entry.commit === state.refused.commit || entry.build?.source === state.refused.commit)) delete state.refused;
  const failed = entry.rollout?.checks.find((c) => !c.ok);
  if (failed !== undefined) {
    state.rejected = { commit: entry.commit, ...(entry.build === undefined ? {} : { source: entry.build.source }), deployId: entry.id, target: failed.target, detail: failed.detail, at: failed.at };
    return;
  }
  const rejected = state.rejected;
  if (rejected === undefined || entry.reason === 'auto-rollback') return;
  if (entry.commit !== rejected.commit || (entry.rollout?.checks.length ?? 0) > 0) delete state.rejected;
}

/** A deploy was refused before anything was touched: status names why while that commit is the branch tip. */
export function deployRefused(state: State, commit: Commit, why: string, at: string): void {
  state.refused = { commit, why, at };
}

/** A deploy finished: it is the current one, what "ok" in status is measured against. */
export function deployFinished(state: State, deployId: number, commit: Commit, at: string): void {
  state.nextDeployId = deployId + 1;
  state.current = { commit, deployId, at };
}

/**
 * git rejects a push whose deploy failed (push: pre-receive), and drops its objects: the deploy
 * before it is the current one again, unless a rollback has made one since. What the targets hold
 * is as their own records say; one still naming the dropped commit is rewritten whole next time.
 */
export function pushRejected(state: State, commit: Commit, before: State['current']): void {
  if (state.current?.commit === commit) state.current = before;
  // a source still holding it (no target needed putting back, so nothing checked the source out
  // again) holds files of a commit that is gone: the next deploy rewrites it whole
  if (state.source.commit === commit || state.source.attempted.includes(commit)) sourceUntraceable(state, `it held ${commit.slice(0, 10)}, a push git rejected (push: pre-receive); the next deploy rewrites it whole`);
}

/** A relay's release is about to be written: until it is whole, it may hold any mix of the two commits. */
export function relayFeedBegun(state: State, relay: string, commit: Commit): void {
  state.relays ??= {};
  const held = state.relays[relay] ?? { commit: null, attempted: [] };
  if (!held.attempted.includes(commit)) held.attempted.push(commit);
  state.relays[relay] = held;
}

/** A relay's release holds the commit whole. */
export function relayFed(state: State, relay: string, commit: Commit): void {
  state.relays ??= {};
  state.relays[relay] = { commit, attempted: [] };
}
