import type { Readable } from 'node:stream';
import { startStreaming } from '../base/exec.js';
import type { Logger } from '../base/log.js';
import { bytesOf, type RelPath } from '../base/paths.js';
import { limitReachedAtStart, lostWatch } from './inotify.js';

/**
 * One run of inotifywait: started, its records read as events, its stderr read for the directories
 * it could not watch and for the moment its watches are set up, and its exit put in its own words.
 * Whether to start another is the watcher's life (watcher-life.ts).
 */

/** One inotifywait record: its event names and the path, relative to the watched source. */
export interface WatchEvent {
  events: string[];
  path: RelPath;
}

/** The events that change what a web server would serve. */
const EVENTS = 'modify,attrib,close_write,create,delete,moved_from,moved_to,delete_self';

/**
 * inotifywait's records as fanout asks for them (`--format '%e %w%f%0' --no-newline`): "EVENTS
 * /abs/path" ended by NUL, read as bytes (latin1: one character per byte) so that any file name
 * survives. `source` is the watched directory as a byte string. Returns the complete records and
 * the unfinished tail; an event on the source itself, or outside it, has an empty path.
 */
export function parseEvents(text: string, source: RelPath): { events: WatchEvent[]; rest: string } {
  const records = text.split('\0');
  const rest = records.pop() ?? '';
  const events: WatchEvent[] = [];
  const prefix = source.endsWith('/') ? source : `${source}/`;
  for (const record of records) {
    const space = record.indexOf(' ');
    if (space === -1) continue;
    const names = record.slice(0, space).split(',');
    const file = record.slice(space + 1);
    events.push({ events: names, path: file.startsWith(prefix) ? file.slice(prefix.length).replace(/\/+$/, '') : '' });
  }
  return { events, rest };
}

/** inotifywait's arguments: recursive, forever, NUL-ended records of the events above. */
export function inotifywaitArgs(watched: string): string[] {
  return ['-m', '-r', '--format', '%e %w%f%0', '--no-newline', '-e', EVENTS, watched];
}

/** What a start came to: watching, or why not, and whether the watch limit was why. */
export type StartResult = { ok: true } | { ok: false; why: string; limit: boolean };

export interface InotifyHandlers {
  event: (event: WatchEvent) => void;
  /** a directory created later that could not be watched, as inotifywait names it (bytes) */
  lostWatch: (dir: string) => void;
  /** a run whose watches were set up has ended (a crash): why, in inotifywait's words */
  died: (why: string) => void;
}

export interface InotifyRun {
  /** once the watches are set up, or once inotifywait exited before they were */
  started: Promise<StartResult>;
  kill(): void;
}

/** The child as this module reads it: execa's in fanout, two streams and an exit in the tests. */
export interface InotifyChild {
  stdout: Readable;
  stderr: Readable;
  exited: PromiseLike<{ exitCode?: number; signal?: string }>;
  kill(signal: 'SIGTERM'): void;
}

/** inotifywait started through the exec helpers, for startInotifywait. */
export function spawnInotifywait(log: Logger): (args: string[]) => InotifyChild {
  return (args) => {
    const child = startStreaming('inotifywait', args, log);
    return {
      stdout: child.stdout,
      stderr: child.stderr,
      exited: child,
      kill: (signal) => {
        child.kill(signal);
      },
    };
  };
}

/** Start inotifywait on `watched`; `started` resolves once its watches are set up, or with why it exited first. */
export function startInotifywait(watched: string, on: InotifyHandlers, spawn: (args: string[]) => InotifyChild): InotifyRun {
  const child = spawn(inotifywaitArgs(watched));
  const stderr = readStderr(child.stderr, on.lostWatch);
  readEvents(child.stdout, bytesOf(watched), on.event);
  const started = new Promise<StartResult>((resolve) => {
    stderr.onEstablished = () => {
      resolve({ ok: true });
    };
    void child.exited.then((exit) => {
      if (!stderr.established) {
        resolve({ ok: false, why: exitWhy(stderr.text, exit), limit: limitReachedAtStart(stderr.text) });
        return;
      }
      on.died(exitWhy(stderr.text, exit));
    });
  });
  return {
    started,
    kill: () => {
      child.kill('SIGTERM');
    },
  };
}

interface StderrSeen {
  /** its last 64 KiB, for why it exited */
  text: string;
  established: boolean;
  onEstablished: () => void;
}

/** stderr read line by line, as bytes like the events: a directory it cannot watch is named in it. */
function readStderr(stream: Readable, lostWatchOf: (dir: string) => void): StderrSeen {
  const seen: StderrSeen = { text: '', established: false, onEstablished: () => undefined };
  let partial = '';
  stream.setEncoding('latin1');
  stream.on('data', (chunk: string) => {
    seen.text = (seen.text + chunk).slice(-64 * 1024);
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const lost = lostWatch(line);
      if (lost !== undefined) lostWatchOf(lost);
      if (line.includes('Watches established')) {
        seen.established = true;
        seen.onEstablished();
      }
    }
  });
  return seen;
}

/** stdout's records as events; a record cut between two reads waits for its end. */
function readEvents(stream: Readable, watchedBytes: string, event: (event: WatchEvent) => void): void {
  let carry = '';
  stream.setEncoding('latin1');
  stream.on('data', (chunk: string) => {
    const { events, rest } = parseEvents(carry + chunk, watchedBytes);
    carry = rest;
    for (const e of events) event(e);
  });
}

/** Why inotifywait exited, from what it said on stderr, else its exit code or signal. */
export function exitWhy(stderr: string, exit: { exitCode?: number; signal?: string }): string {
  const lines = stderr.trim().split('\n').filter((l) => !/Setting up watches|Watches established/.test(l));
  // "Failed to watch DIR; upper limit ..." says what; the line after it only says where to raise it
  return lines.find((l) => l.startsWith('Failed to watch')) ?? lines.at(-1) ?? `exit ${exit.exitCode ?? exit.signal ?? '?'}`;
}
