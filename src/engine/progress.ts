import { humanDuration, humanSize } from './units.js';

// A deploy's progress as data: the phase it is in and, for a phase that writes targets, what each
// has sent of what it will send. Events move it on; it reads as the one line a person sees (scap's
// `sync-apaches: 63% (ok: 55; fail: 0; left: 37)`, with files, bytes and an estimate) or as a JSON
// object. Pure: the time is passed in, and the reporters (report.ts) decide when to show it.

/** Files (symlinks count as files) and the bytes of their contents. */
export interface Amount {
  files: number;
  bytes: number;
}

export type ProgressEvent =
  /**
   * A step of the deploy begins. `targets`: those it writes, whose transfers make its progress.
   * `quiet`: no line of its own in a pipe (a note has said it, or it is bookkeeping); the progress
   * line and --json still show it.
   */
  | { kind: 'phase'; name: string; detail?: string; targets?: readonly string[]; quiet?: boolean }
  /** what each target's transfer sends at most, known once the source holds the commit; undefined: found only as it goes (a full pass) */
  | { kind: 'totals'; totals: ReadonlyMap<string, Amount | undefined> }
  /** what a target's transfer has sent so far, all its passes together */
  | { kind: 'sent'; target: string; sent: Amount }
  | { kind: 'finished'; target: string; ok: boolean }
  /** the deploy is over, however it ended */
  | { kind: 'idle' };

export interface TargetProgress {
  name: string;
  sent: Amount;
  /** left: not finished yet, whether its transfer runs or waits for its turn */
  state: 'left' | 'ok' | 'failed';
}

export interface Progress {
  phase: { name: string; detail: string | undefined; since: number } | undefined;
  totals: ReadonlyMap<string, Amount | undefined>;
  /** the targets the phase writes */
  targets: readonly TargetProgress[];
}

export const IDLE: Progress = { phase: undefined, totals: new Map(), targets: [] };

const NOTHING: Amount = { files: 0, bytes: 0 };

/** The estimate waits for this much of the work to be done, and this long, so that the start's slow connections do not make it up. */
const ESTIMATE_AFTER = { fraction: 0.05, ms: 2000 };

export function advance(progress: Progress, event: ProgressEvent, now: number): Progress {
  switch (event.kind) {
    case 'phase':
      return { ...progress, phase: { name: event.name, detail: event.detail, since: now }, targets: (event.targets ?? []).map((name) => ({ name, sent: NOTHING, state: 'left' })) };
    case 'totals':
      return { ...progress, totals: event.totals };
    case 'sent':
      return { ...progress, targets: progress.targets.map((t) => (t.name === event.target && t.state === 'left' ? { ...t, sent: event.sent } : t)) };
    case 'finished':
      return { ...progress, targets: progress.targets.map((t) => (t.name === event.target ? { ...t, state: event.ok ? 'ok' : 'failed' } : t)) };
    case 'idle':
      return IDLE;
  }
}

/** The phase across the farm: targets finished and left, what is done of what there is to do, and when it may end. */
export interface FarmProgress {
  phase: string;
  detail: string | undefined;
  elapsedMs: number;
  targets: number;
  ok: number;
  failed: number;
  left: number;
  /** a finished target counts as all it had to send: one that skipped files that were already there has nothing left either */
  done: Amount;
  /** undefined when a target's is not known ahead (a full pass) */
  total: Amount | undefined;
  /** of the bytes, or of the files when there are no bytes to send; undefined without a total or with nothing to send */
  fraction: number | undefined;
  remainingMs: number | undefined;
}

export function farmProgress(progress: Progress, now: number): FarmProgress | undefined {
  const { phase, targets, totals } = progress;
  if (phase === undefined) return undefined;
  const totalOf = (name: string): Amount | undefined => totals.get(name);
  const known = targets.every((t) => totalOf(t.name) !== undefined);
  const done = sum(targets.map((t) => doneOf(t, totalOf(t.name))));
  const total = known ? sum(targets.map((t) => totalOf(t.name) ?? NOTHING)) : undefined;
  const fraction = total === undefined ? undefined : total.bytes > 0 ? done.bytes / total.bytes : total.files > 0 ? done.files / total.files : undefined;
  const elapsedMs = now - phase.since;
  const count = (state: TargetProgress['state']): number => targets.filter((t) => t.state === state).length;
  return { phase: phase.name, detail: phase.detail, elapsedMs, targets: targets.length, ok: count('ok'), failed: count('failed'), left: count('left'), done, total, fraction, remainingMs: remaining(fraction, elapsedMs) };
}

function doneOf(target: TargetProgress, total: Amount | undefined): Amount {
  if (total === undefined) return target.sent;
  if (target.state !== 'left') return total;
  return { files: Math.min(target.sent.files, total.files), bytes: Math.min(target.sent.bytes, total.bytes) };
}

function sum(amounts: readonly Amount[]): Amount {
  return amounts.reduce((a, b) => ({ files: a.files + b.files, bytes: a.bytes + b.bytes }), NOTHING);
}

/** The time left at the pace so far, once enough is done to judge the pace by. */
export function remaining(fraction: number | undefined, elapsedMs: number): number | undefined {
  if (fraction === undefined || fraction < ESTIMATE_AFTER.fraction || fraction >= 1 || elapsedMs < ESTIMATE_AFTER.ms) return undefined;
  return (elapsedMs * (1 - fraction)) / fraction;
}

/**
 * The one line: `staging: 40% (ok 1, failed 0, left 1; 812/2000 files, 3.2 MB/8.0 MB; 5.1s, about
 * 8s left)`; without a total, what is sent so far; for a phase that writes no target, what it does
 * and for how long. Undefined between deploys. Within `width` (a terminal's) when it can be: the
 * time taken goes first, then the count of files, so that the estimate stays.
 */
export function progressLine(progress: Progress, now: number, width = Infinity): string | undefined {
  const farm = farmProgress(progress, now);
  if (farm === undefined) return undefined;
  const took = humanDuration(farm.elapsedMs);
  if (farm.targets === 0) return `${farm.phase}: ${[farm.detail, took].filter((p) => p !== undefined).join('; ')}`;
  const counts = `ok ${farm.ok}, failed ${farm.failed}, left ${farm.left}`;
  if (farm.total === undefined) return `${farm.phase}: ${counts}; ${farm.done.files} files, ${humanSize(farm.done.bytes)} sent so far; ${took}`;
  const lines = [
    { took: true, files: true },
    { took: false, files: true },
    { took: false, files: false },
  ].map((keep) => lineOfTotal(farm, farm.total ?? NOTHING, counts, keep));
  return lines.find((line) => line.length <= width) ?? lines.at(-1);
}

function lineOfTotal(farm: FarmProgress, total: Amount, counts: string, keep: { took: boolean; files: boolean }): string {
  const { done, fraction, remainingMs } = farm;
  const amounts = [total.files > 0 && keep.files ? `${done.files}/${total.files} files` : undefined, total.bytes > 0 ? `${humanSize(done.bytes)}/${humanSize(total.bytes)}` : undefined].filter((p) => p !== undefined);
  const estimate = remainingMs === undefined ? undefined : `about ${roughly(remainingMs)} left`;
  const time = [keep.took || estimate === undefined ? humanDuration(farm.elapsedMs) : undefined, estimate].filter((p) => p !== undefined).join(', ');
  const parts = [counts, ...(amounts.length > 0 ? [amounts.join(', ')] : []), time].join('; ');
  return fraction === undefined ? `${farm.phase}: ${parts}` : `${farm.phase}: ${Math.floor(fraction * 100)}% (${parts})`;
}

/** An estimate in whole seconds: a tenth of a second would claim a precision it does not have. */
function roughly(ms: number): string {
  return ms < 59_500 ? `${Math.max(1, Math.round(ms / 1000))}s` : humanDuration(ms);
}

/** The line that says a phase has begun: `transfer: 2 targets, 84 files (1.7 MB) to send`, `checkout: 1a2b3c4d5e, 42 paths`. */
export function phaseLine(progress: Progress): string | undefined {
  const { phase, targets, totals } = progress;
  if (phase === undefined) return undefined;
  if (targets.length === 0) return phase.detail === undefined ? phase.name : `${phase.name}: ${phase.detail}`;
  const all = targets.map((t) => totals.get(t.name));
  const known = all.every((a) => a !== undefined);
  const total = sum(all.map((a) => a ?? NOTHING));
  const what = !known ? 'a full pass (what it sends is found as it goes)' : total.files === 0 ? 'no file to send' : `${total.files} file${total.files === 1 ? '' : 's'} (${humanSize(total.bytes)}) to send`;
  const head = [phase.detail, `${targets.length} target${targets.length === 1 ? '' : 's'}`].filter((p) => p !== undefined).join(', ');
  return `${phase.name}: ${head}, ${what}`;
}

/** The --json events: `{"event":"phase",...}` as a phase begins, `{"event":"progress",...}` while it runs. */
export function phaseEvent(progress: Progress, at: number): Record<string, unknown> | undefined {
  const { phase, targets, totals } = progress;
  if (phase === undefined) return undefined;
  return { event: 'phase', at: new Date(at).toISOString(), phase: phase.name, detail: phase.detail, targets: targets.map((t) => ({ name: t.name, total: totals.get(t.name) })) };
}

export function progressEvent(progress: Progress, now: number): Record<string, unknown> | undefined {
  const farm = farmProgress(progress, now);
  if (farm === undefined) return undefined;
  const { phase, detail, elapsedMs, ok, failed, left, done, total, fraction, remainingMs } = farm;
  return {
    event: 'progress',
    at: new Date(now).toISOString(),
    phase,
    detail,
    elapsedMs,
    ok,
    failed,
    left,
    done,
    total,
    percent: fraction === undefined ? undefined : Math.floor(fraction * 100),
    remainingMs: remainingMs === undefined ? undefined : Math.round(remainingMs),
    targets: progress.targets.map((t) => ({ name: t.name, state: t.state, sent: t.sent, total: progress.totals.get(t.name) })),
  };
}
