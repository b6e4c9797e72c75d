import type { HistoryEntry, TargetOutcome } from './journal.js';
import { humanDuration, humanSize } from './units.js';
import type { ProgressEvent } from './progress.js';
import { liveProgress, progressEvents, progressLines, systemTicker, type ProgressShow, type Ticker } from './progress-display.js';

/** What a person sees of a deploy: a line per target as it finishes, then one summary line. */
export interface Reporter {
  note(message: string): void;
  targetDone(outcome: TargetOutcome): void;
  /** where the deploy is: a phase begun, what a target's transfer has sent, a target finished, the deploy over (progress.ts) */
  progress(event: ProgressEvent): void;
  /** a line of a build's output: on a terminal, one progress line rewritten in place; else a line each (the pusher's remote: lines) */
  buildLine(line: string): void;
  deployDone(entry: HistoryEntry): void;
  /** everything collected, for --json: printed once at the end as one document */
  finish(): void;
}

export interface Output {
  write(text: string): void;
  color: boolean;
}

export function stdoutOutput(): Output {
  return {
    write: (text) => {
      process.stdout.write(text);
    },
    color: process.stdout.isTTY && process.env.NO_COLOR === undefined,
  };
}

export const paint = (on: boolean, code: number, text: string): string => (on ? `\u001b[${code}m${text}\u001b[0m` : text);

// eslint-disable-next-line no-control-regex -- colour codes are exactly what this strips
const ANSI = /\u001b\[[0-9;]*m/g;

/** Rows aligned in columns by their visible width (colour codes do not count). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').replace(ANSI, '').length)));
  const line = (r: readonly string[]): string =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - cell.replace(ANSI, '').length)))
      .join('  ')
      .trimEnd();
  return `${all.map(line).join('\n')}\n`;
}

/** A status word in its colour: green for good, yellow for behind, red for bad. */
export function statusWord(word: string, color: boolean): string {
  const code = ['ok', 'same'].includes(word) ? 32 : ['behind', 'unknown', 'lagging'].includes(word) ? 33 : 31;
  return paint(color, code, word);
}

/** How many itemized lines a dry run lists before saying how many more there are. */
const ITEMS_SHOWN = 50;

export function itemLines(items: readonly string[], indent: string): string {
  const shown = items.slice(0, ITEMS_SHOWN).map((i) => `${indent}${i}\n`);
  if (items.length > ITEMS_SHOWN) shown.push(`${indent}... and ${items.length - ITEMS_SHOWN} more (--json lists them all)\n`);
  return shown.join('');
}

export function shortCommit(commit: string): string {
  return commit.slice(0, 10);
}

export function targetLine(outcome: TargetOutcome, nameWidth: number, color = false): string {
  const name = outcome.name.padEnd(nameWidth);
  if (outcome.status === 'failed') return `${name}  ${paint(color, 31, 'failed')}  ${outcome.error ?? 'unknown error'}`;
  const what =
    outcome.mode === 'none'
      ? 'already up to date'
      : `${outcome.sent} sent${outcome.bytes > 0 ? ` (${humanSize(outcome.bytes)})` : ''}, ${outcome.deleted} deleted${outcome.mode === 'full' ? ' (full pass)' : ''}`;
  const slot = outcome.slot === undefined ? '' : outcome.switchedAt !== undefined ? `, slot ${outcome.slot} live` : `, slot ${outcome.slot}`;
  const via = outcome.via === undefined ? '' : `, via ${outcome.via}`;
  return `${name}  ${paint(color, 32, 'ok')}      ${what}${slot}${via}  ${humanDuration(outcome.durationMs)}`;
}

/** A deploy's last line; a push's also says who pushed, and why when the push said (git push -o message=...). */
export function summaryLine(entry: HistoryEntry): string {
  const pushed = entry.reason === 'push' && entry.user !== undefined ? `; pushed by ${entry.user}${entry.message === undefined ? '' : `: "${entry.message}"`}` : '';
  return `${outcomeLine(entry)}${pushed}`;
}

function outcomeLine(entry: HistoryEntry): string {
  const failed = entry.targets.filter((t) => t.status === 'failed');
  const done = entry.targets.filter((t) => t.status === 'ok').length;
  const took = humanDuration(Date.parse(entry.finishedAt) - Date.parse(entry.startedAt));
  const what = `${shortCommit(entry.commit)} "${entry.subject}"`;
  const stopped = entry.rollout?.stopped;
  if (stopped !== undefined) return `the rollout of ${what} stopped at ${stopped.target} (${stopped.detail}) in ${took}; FAILED: ${failed.map((t) => t.name).join(', ')}`;
  // nothing went anywhere: said so, not as a deploy to none of them
  if (done === 0 && failed.length > 0) {
    const verb = entry.dryRun === true ? 'would reach' : 'reached';
    return `${entry.reason === 'rollback' ? `rollback to ${what}` : what} ${verb} no target: ${failed.map((t) => t.name).join(', ')} failed (see above); ${took}`;
  }
  const verb = entry.dryRun === true ? 'would deploy' : entry.reason === 'rollback' ? 'rolled back to' : 'deployed';
  const preposition = entry.reason === 'rollback' && entry.dryRun !== true ? 'on' : 'to';
  const head = `${verb} ${what} ${preposition} ${done}/${entry.targets.length} targets in ${took}`;
  return failed.length === 0 ? head : `${head}; FAILED: ${failed.map((t) => t.name).join(', ')}`;
}

/** How a person's report is shown, besides its lines on stdout. */
export interface HumanOptions {
  /** before every line, progress lines too */
  prefix?: string;
  /** stderr is a terminal: progress is one line rewritten in place, else a line at a time */
  live?: boolean;
  /** where progress goes: stderr, so that stdout holds the report alone */
  err?: (text: string) => void;
  ticker?: Ticker;
  /** the terminal's width, for the live line */
  columns?: () => number;
}

const writeStderr = (text: string): void => {
  process.stderr.write(text);
};

/**
 * Lines for a person: a line per target, the summary. Progress goes to stderr: on a terminal one
 * line rewritten in place (once the deploy has run a second), cleared before each line of the
 * report; in a pipe (the hook's remote: lines) a line as each phase begins and one every 2 s while
 * it runs (progress-display.ts).
 */
export function humanReporter(out: Output, nameWidth: number, options: HumanOptions = {}): Reporter {
  const { prefix = '', live = process.stderr.isTTY, err = writeStderr, ticker = systemTicker } = options;
  const onTerminal = live ? liveProgress(err, ticker, options.columns ?? (() => process.stderr.columns || 80)) : undefined;
  const toLines = (line: string): void => {
    err(`${prefix}${line}\n`);
  };
  const shown: ProgressShow = onTerminal ?? progressLines(toLines, ticker, true);
  return {
    note: (message) => {
      shown.clear();
      out.write(`${prefix}${message}\n`);
    },
    progress: (event) => {
      shown.update(event);
    },
    buildLine: (line) => {
      if (onTerminal === undefined) out.write(`${prefix}build: ${line}\n`);
      else onTerminal.buildLine(line);
    },
    targetDone: (outcome) => {
      shown.clear();
      out.write(`${prefix}  ${targetLine(outcome, nameWidth, out.color)}\n`);
      if (outcome.items !== undefined) out.write(itemLines(outcome.items, `${prefix}      `));
    },
    deployDone: (entry) => {
      shown.stop();
      out.write(`${prefix}${summaryLine(entry)}\n`);
    },
    finish: () => {
      shown.stop();
    },
  };
}

/**
 * --json: one document on stdout at the end, so that it parses as it always has; progress as
 * events on stderr meanwhile, a JSON object a line.
 */
export function jsonReporter(out: Output, options: { err?: (text: string) => void; ticker?: Ticker } = {}): Reporter {
  const { err = writeStderr, ticker = systemTicker } = options;
  const events = progressEvents((line) => {
    err(`${line}\n`);
  }, ticker);
  const notes: string[] = [];
  const deploys: HistoryEntry[] = [];
  return {
    note: (message) => notes.push(message),
    progress: (event) => {
      events.update(event);
    },
    buildLine: () => undefined,
    targetDone: () => undefined,
    deployDone: (entry) => {
      events.stop();
      deploys.push(entry);
    },
    finish: () => {
      events.stop();
      out.write(`${JSON.stringify({ ok: deploys.every((d) => d.targets.every((t) => t.status !== 'failed')), deploys, notes }, null, 2)}\n`);
    },
  };
}
