import type { Commit } from './git.js';
import type { State, TargetState } from './journal.js';
import type { RelPath } from './paths.js';

/**
 * The journal's transitions, each a change to a State and nothing else: the engine applies them
 * through Journal.update, and they are tested with plain data. One predicate says whether a target
 * is up to date; the engine's coalescing, `fanout status` and `fanout sync` all ask it.
 */

/** The target has `commit` completely: no attempt since cut short, no edit made outside git it lacks. */
export function upToDate(target: TargetState | undefined, commit: Commit | null): boolean {
  return target !== undefined && commit !== null && target.status === 'ok' && target.commit === commit && target.attempted.length === 0 && (target.dirty ?? []).length === 0;
}

/** The source holds `commit` completely. */
export function sourceHolds(state: State, commit: Commit): boolean {
  return state.source.commit === commit && state.source.attempted.length === 0;
}

function targetOf(state: State, name: string): TargetState {
  return (state.targets[name] ??= { commit: null, at: null, status: 'failed', attempted: [] });
}

/**
 * Before rsync starts on a target: if fanout dies mid-transfer, the next run knows the target may
 * hold any mix of this commit's files, and which paths changed outside git it still lacks.
 */
export function beginTransfer(state: State, name: string, commit: Commit, outsidePaths: readonly RelPath[]): void {
  const t = targetOf(state, name);
  if (!t.attempted.includes(commit)) t.attempted.push(commit);
  if (outsidePaths.length > 0) t.dirty = [...new Set([...(t.dirty ?? []), ...outsidePaths])];
}

/** The target received `commit` completely (an unchanged tree too): it holds that, and nothing else is pending. */
export function transferSucceeded(state: State, name: string, commit: Commit, at: string): void {
  state.targets[name] = { commit, at, status: 'ok', attempted: [] };
}

/**
 * The transfer failed. The target keeps the commit it had; the attempt stays noted (its next sync
 * is a full pass) unless every rsync was refused before anything moved and this commit had not
 * been tried there before.
 */
export function transferFailed(state: State, name: string, commit: Commit, error: string, how: { untouched: boolean; alreadyAttempted: boolean }): void {
  const t = targetOf(state, name);
  t.status = 'failed';
  t.error = error;
  if (how.untouched && !how.alreadyAttempted) t.attempted = t.attempted.filter((c) => c !== commit);
}

/** Refused before any transfer (a dry run said no, or the target could not be asked): only the error changes. */
export function refusedBeforeTransfer(state: State, name: string, error: string): void {
  const t = targetOf(state, name);
  t.status = 'failed';
  t.error = error;
}

/** Before the checkout writes into the source: a checkout cut short is redone in full next time. */
export function beginCheckout(state: State, commit: Commit): void {
  if (!state.source.attempted.includes(commit)) state.source.attempted.push(commit);
}

/** The source holds `commit` completely; any earlier checkout failure is over. */
export function checkoutSucceeded(state: State, commit: Commit): void {
  state.source = { commit, attempted: [] };
}

/** The checkout failed (the file system refused): the deploy id is used, and status shows why. */
export function checkoutFailed(state: State, deployId: number, error: string): void {
  state.nextDeployId = deployId + 1;
  state.source.error = error;
}

/** A deploy finished: it is the current one, what "ok" in status is measured against. */
export function deployFinished(state: State, deployId: number, commit: Commit, at: string): void {
  state.nextDeployId = deployId + 1;
  state.current = { commit, deployId, at };
}
