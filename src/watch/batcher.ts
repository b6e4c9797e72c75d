import type { RelPath } from '../base/paths.js';

/**
 * When watch runs a batch, and with what: a state machine with its clock passed in, so every rule
 * is tested with plain numbers. watcher.ts feeds it events, and batch-runner.ts its outcomes,
 * setting one timer for the time it names.
 *
 * - A batch starts once the events have been quiet for `settleMs`, or `maxWaitMs` after the first
 *   of them, whichever comes first, and never less than `minDelayMs` after the last batch started.
 * - Events that arrive while a batch runs make up the next one.
 * - A full pass, once asked for (the start, a queue overflow, a watcher restarted, a directory
 *   that could not be watched), replaces the paths of the batch it joins.
 * - A batch whose deploy failed as a whole keeps its paths for the retry; a batch in which a
 *   target failed needs no paths kept (the journal notes what that target lacks). Either way a
 *   retry comes after `retryDelayMs`, doubling up to `maxRetryDelayMs`, until a batch succeeds.
 */
export interface BatcherTiming {
  settleMs: number;
  maxWaitMs: number;
  minDelayMs: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
}

export interface BatcherState {
  pending: Set<RelPath>;
  full: boolean;
  /** when the first event of the coming batch arrived, and the last */
  firstEventAt: number | undefined;
  lastEventAt: number | undefined;
  running: boolean;
  lastStartAt: number | undefined;
  /** a retry after a failure: when it is due, and what the failed batch must send again */
  retry: { dueAt: number; delayMs: number; paths: Set<RelPath>; full: boolean } | undefined;
  /** the last retry's delay, doubled by the next failure; 0 after a success */
  lastRetryDelayMs: number;
  /** a retry is due, with or without paths of its own */
  retryDue: boolean;
}

export type Batch = { kind: 'full'; since: number } | { kind: 'paths'; paths: RelPath[]; since: number };

/** What an event, a poll or a restart tells the batcher: paths that changed, or a full pass owed. */
export interface Change {
  paths?: Iterable<RelPath>;
  full?: boolean;
}

export function newBatcher(): BatcherState {
  // start equal: one full pass before the first batch
  return { pending: new Set(), full: true, firstEventAt: undefined, lastEventAt: undefined, running: false, lastStartAt: undefined, retry: undefined, lastRetryDelayMs: 0, retryDue: false };
}

/** Paths changed (or a full pass is needed) at `now`. */
export function noted(state: BatcherState, now: number, change: Change): void {
  for (const p of change.paths ?? []) state.pending.add(p);
  if (change.full === true) state.full = true;
  state.firstEventAt ??= now;
  state.lastEventAt = now;
}

/** How long from `now` until something is to be done (a batch, or a retry falling due); undefined: nothing to wait for. */
export function wakeIn(state: BatcherState, now: number, timing: BatcherTiming): number | undefined {
  const waits: number[] = [];
  if (state.retry !== undefined) waits.push(Math.max(0, state.retry.dueAt - now));
  if (!state.running && (state.pending.size > 0 || state.full || state.retryDue)) {
    // no event yet (the start's full pass, a retry on its own): nothing to wait quiet for
    const quiet = state.lastEventAt === undefined ? 0 : timing.settleMs - (now - state.lastEventAt);
    const cap = timing.maxWaitMs - (now - (state.firstEventAt ?? now));
    const spacing = state.lastStartAt === undefined ? 0 : timing.minDelayMs - (now - state.lastStartAt);
    waits.push(Math.max(0, Math.min(quiet, cap), spacing));
  }
  return waits.length === 0 ? undefined : Math.min(...waits);
}

/** What is to run at `now`, if anything: a due retry is folded in first. The batch is then running. */
export function take(state: BatcherState, now: number, timing: BatcherTiming): Batch | undefined {
  if (state.retry !== undefined && state.retry.dueAt <= now) {
    for (const p of state.retry.paths) state.pending.add(p);
    state.full ||= state.retry.full;
    state.firstEventAt ??= now;
    state.retryDue = true;
    state.retry = undefined;
  }
  if (wakeIn(state, now, timing) !== 0 || state.running || !(state.pending.size > 0 || state.full || state.retryDue)) return undefined;
  const since = state.firstEventAt ?? now;
  const batch: Batch = state.full ? { kind: 'full', since } : { kind: 'paths', paths: [...state.pending], since };
  state.pending.clear();
  state.full = false;
  state.retryDue = false;
  state.firstEventAt = undefined;
  state.lastStartAt = now;
  state.running = true;
  return batch;
}

/**
 * A batch ended at `now`: `ok` (every target has it), `targets failed` (the journal keeps what each
 * lacks), or `failed` (the deploy itself did not run: the lock, an empty source), whose paths are
 * kept for the retry.
 */
export function done(state: BatcherState, batch: Batch, outcome: 'ok' | 'targets failed' | 'failed', now: number, timing: BatcherTiming): void {
  state.running = false;
  if (outcome === 'ok') {
    state.lastRetryDelayMs = 0;
    return;
  }
  const delayMs = Math.min(timing.maxRetryDelayMs, state.lastRetryDelayMs === 0 ? timing.retryDelayMs : state.lastRetryDelayMs * 2);
  state.lastRetryDelayMs = delayMs;
  const kept = state.retry ?? { dueAt: 0, delayMs, paths: new Set<RelPath>(), full: false };
  if (outcome === 'failed') {
    if (batch.kind === 'full') kept.full = true;
    else for (const p of batch.paths) kept.paths.add(p);
  }
  state.retry = { ...kept, dueAt: now + delayMs, delayMs };
}
