import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Target } from '../base/config.js';
import type { Change } from './batcher.js';
import { BatchRunner, batcherTiming } from './batch-runner.js';
import { systemClock } from './clock.js';
import { UnwatchedDirectories } from './unwatched-poller.js';
import { MAX_CHANGES } from '../deploy/deploy-plan.js';
import { deploy, type Context } from '../deploy/deploy.js';
import { FanoutError, errorMessage } from '../base/errors.js';
import { refuseWatchWithBuild } from '../build/build.js';
import { startStreaming, type StreamingChild } from '../base/exec.js';
import { countDirectories, limitReachedAtStart, lostWatch, pathsBelow, raiseLimitAdvice, watchBudgetWarning, watchLimit } from './inotify.js';
import { bytesOf, displayPath, pathProblem, type RelPath } from '../base/paths.js';
import { writeWatchState } from './watcher-state.js';

/** One inotifywait record: its event names and the path, relative to the watched source. */
export interface WatchEvent {
  events: string[];
  path: RelPath;
}

/** Past this many paths in one appeared directory (or polled in all), a full pass: the deploy's own bound on named paths. */
const MAX_BATCH_PATHS = MAX_CHANGES;

/** Attempts to set the watches up before `fanout watch` gives up and exits 1. */
const START_ATTEMPTS = 5;

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

/** A file-name glob with `*` and `?` only, matched against the last path component (bytes). */
export function ignoredByWatch(rel: RelPath, patterns: readonly string[]): boolean {
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  return patterns.some((pattern) => globToRegExp(pattern).test(name));
}

const globCache = new Map<string, RegExp>();
function globToRegExp(glob: string): RegExp {
  let re = globCache.get(glob);
  if (re === undefined) {
    // the pattern as bytes too, so that `café*` matches the name git or the kernel wrote
    const body = bytesOf(glob).replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    re = new RegExp(`^${body}$`, 's');
    globCache.set(glob, re);
  }
  return re;
}

export interface WatchOptions {
  targets: readonly Target[];
  write: (line: string) => void;
}

/**
 * Live mode: inotify events on the source become batches of paths, each sent to every target
 * through the deploy engine (lock, per-target plan, journal) as a deploy of the source as it
 * stands. No fixed delay: a batch starts once events have been quiet for `settleMs`, or
 * `maxWaitMs` after the first of them; events that arrive while a batch runs make up the next one,
 * so a burst of thousands of writes is a handful of rsync runs. A queue overflow or a watcher that
 * dies means a full pass, and watching goes on.
 * Resolves once SIGTERM or SIGINT has let the batch in flight finish.
 */
export async function watch(ctx: Context, options: WatchOptions): Promise<void> {
  refuseWatchWithBuild(ctx.config);
  const { config, log } = ctx;
  const source = config.source;
  // watch.path: only that directory is watched; its events still name paths from the source's top
  const mirrored = config.watch.path === undefined ? undefined : bytesOf(config.watch.path);
  const watched = mirrored === undefined ? source : path.join(source, config.watch.path ?? '');
  const watchedBytes = bytesOf(watched);
  if (mirrored !== undefined && !fs.lstatSync(watched, { throwIfNoEntry: false })?.isDirectory()) {
    throw new FanoutError(`watch.path ${config.watch.path ?? ''}: ${watched} is not a directory; create it (mkdir) or fix watch.path`);
  }
  const runner = new BatchRunner({
    timing: batcherTiming(config),
    targets: options.targets.map((t) => t.name),
    deploy: (reporter, request, deployOptions) => deploy({ ...ctx, reporter }, request, deployOptions),
    log,
    write: options.write,
    clock: systemClock,
  });
  let stopping = false;
  let watcher: StreamingChild | undefined;
  const note = (change: Change): void => {
    runner.note(change);
  };

  const unwatched = new UnwatchedDirectories({
    source,
    limit: MAX_BATCH_PATHS,
    keep: (p) => !ignoredByWatch(p, config.watch.ignore) && pathProblem(p) === undefined,
    note,
    degraded: (why) => {
      writeWatchState(config.stateDir, { pid: process.pid, state: 'degraded', since: new Date().toISOString(), message: why });
    },
    log,
    write: options.write,
    clock: systemClock,
  });

  const onEvent = (event: WatchEvent): void => {
    if (event.events.includes('Q_OVERFLOW')) {
      log.warn('inotify queue overflow: events were lost; a full pass follows');
      options.write('inotify queue overflowed: running a full pass');
      note({ full: true });
    } else {
      if (event.path === '' || ignoredByWatch(event.path, config.watch.ignore)) return;
      const problem = pathProblem(event.path);
      if (problem !== undefined) {
        log.warn({ path: displayPath(event.path), problem }, 'watch: a path fanout does not act on; ignored');
        return;
      }
      const appeared = event.events.includes('ISDIR') && (event.events.includes('CREATE') || event.events.includes('MOVED_TO'));
      // Files written into a new directory before inotifywait watched it raise no event of their own.
      const below = appeared ? pathsBelow(source, event.path, MAX_BATCH_PATHS) : [event.path];
      note(below === undefined ? { full: true } : { paths: below });
    }
  };

  /** Start inotifywait; resolves true once its watches are set up, false if it exits first (with why). */
  const startWatcher = async (): Promise<{ ok: true } | { ok: false; why: string; limit: boolean }> => {
    const child = startStreaming('inotifywait', ['-m', '-r', '--format', '%e %w%f%0', '--no-newline', '-e', EVENTS, watched], log);
    watcher = child;
    let established = false;
    let ready: (ok: boolean) => void = () => undefined;
    const settled = new Promise<boolean>((resolve) => {
      ready = resolve;
    });
    let stderr = '';
    let stderrLine = '';
    // bytes, like the events: a directory it cannot watch is named in this stream
    child.stderr.setEncoding('latin1');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-64 * 1024);
      const lines = (stderrLine + chunk).split('\n');
      stderrLine = lines.pop() ?? '';
      for (const line of lines) {
        const lost = lostWatch(line);
        if (lost !== undefined) unwatched.lostWatch(lost);
        if (line.includes('Watches established')) {
          established = true;
          ready(true);
        }
      }
    });
    let carry = '';
    child.stdout.setEncoding('latin1');
    child.stdout.on('data', (chunk: string) => {
      const { events, rest } = parseEvents(carry + chunk, watchedBytes);
      carry = rest;
      for (const event of events) onEvent(mirrored === undefined || event.path === '' ? event : { ...event, path: `${mirrored}/${event.path}` });
    });
    const why = (exit: { exitCode?: number; signal?: string }): string => {
      const lines = stderr.trim().split('\n').filter((l) => !/Setting up watches|Watches established/.test(l));
      // "Failed to watch DIR; upper limit ..." says what; the line after it only says where to raise it
      return lines.find((l) => l.startsWith('Failed to watch')) ?? lines.at(-1) ?? `exit ${exit.exitCode ?? exit.signal ?? '?'}`;
    };
    let failure: { why: string; limit: boolean } | undefined;
    void child.then((result) => {
      if (!established) {
        failure = { why: why(result), limit: limitReachedAtStart(stderr) };
        ready(false);
        return;
      }
      if (stopping || watcher !== child) return;
      // A watcher that dies after its start (a crash) lost events: a full pass once it watches again.
      const said = why(result);
      log.error({ why: said }, 'inotifywait stopped; restarting it, then a full pass');
      options.write(`watcher stopped (${said}); restarting it, then a full pass`);
      // the full pass waits for the watcher: events lost until then are in it
      runner.owe({ full: true });
      void startWithBackoff().then((watching) => {
        if (watching) runner.schedule();
      });
    });
    return (await settled) ? { ok: true } : { ok: false, ...(failure ?? { why: 'inotifywait exited', limit: false }) };
  };

  /**
   * Set the watches up, backing off between attempts (retryDelay, doubling, at most
   * maxRetryDelay). A watcher that cannot start after START_ATTEMPTS is no watcher: fanout watch
   * stops with exit 1 (systemd says failed, and restarts it after RestartSec), never a loop of
   * full passes. Resolves true once watching.
   */
  const startWithBackoff = async (): Promise<boolean> => {
    for (let attempt = 1; !stopping; attempt += 1) {
      const started = await startWatcher();
      if (started.ok) {
        writeWatchState(config.stateDir, { pid: process.pid, state: 'watching', since: new Date().toISOString() });
        return true;
      }
      const advice = started.limit ? `; ${raiseLimitAdvice(watchLimit())}` : '';
      const message = `inotifywait cannot watch ${watched} (${started.why})${advice}`;
      log.error({ attempt, why: started.why }, 'watcher cannot start');
      writeWatchState(config.stateDir, { pid: process.pid, state: 'failing', since: new Date().toISOString(), message });
      if (attempt >= START_ATTEMPTS) {
        giveUp(new FanoutError(`watch: ${message}; gave up after ${attempt} attempts`, 1));
        return false;
      }
      const delay = Math.min(config.watch.maxRetryDelay, config.retryDelay * 2 ** (attempt - 1)) * 1000;
      options.write(`watcher cannot start (${started.why}); trying again in ${(delay / 1000).toFixed(1)}s`);
      await sleep(delay);
    }
    return false;
  };

  let giveUp: (error: Error) => void = () => undefined;
  const stopped = new Promise<void>((resolve, reject) => {
    const stop = (error?: Error): void => {
      if (stopping) return;
      stopping = true;
      const inFlight = runner.stop();
      unwatched.stop();
      watcher?.kill('SIGTERM');
      log.info('watch stopping: finishing the batch in flight');
      void inFlight.then(() => {
        if (error === undefined) resolve();
        else reject(error);
      });
    };
    giveUp = stop;
    // `on`, not `once`: execa's cleanup handler re-raises a signal that no other listener holds
    process.on('SIGTERM', () => {
      stop();
    });
    process.on('SIGINT', () => {
      stop();
    });
  });
  stopped.catch(() => undefined);

  const budget = watchBudgetWarning(countDirectories(watched), watchLimit());
  if (budget !== undefined) {
    log.warn(budget);
    options.write(`warning: ${budget}`);
  }
  try {
    if (await startWithBackoff()) {
      log.info({ source, targets: options.targets.map((t) => t.name) }, 'watching');
      runner.tick();
      await runner.inFlight;
      options.write(`watching ${watched} for ${options.targets.map((t) => t.name).join(', ')}`);
    }
    await stopped;
    writeWatchState(config.stateDir, { pid: process.pid, state: 'stopped', since: new Date().toISOString() });
    options.write('watch stopped');
  } catch (error) {
    writeWatchState(config.stateDir, { pid: process.pid, state: 'failed', since: new Date().toISOString(), message: errorMessage(error) });
    throw error;
  }
}
