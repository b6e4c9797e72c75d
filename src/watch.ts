import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { Target } from './config.js';
import { deploy, type Context } from './deploy.js';
import { errorMessage } from './errors.js';
import type { HistoryEntry, TargetOutcome } from './journal.js';
import type { Reporter } from './report.js';

/** One inotifywait record: its event names and the path, relative to the watched source. */
export interface WatchEvent {
  events: string[];
  path: string;
}

/** The events that change what a web server would serve. */
const EVENTS = 'modify,attrib,close_write,create,delete,moved_from,moved_to,delete_self';

/**
 * inotifywait's records as fanout asks for them (`--format '%e %w%f%0' --no-newline`): "EVENTS
 * /abs/path" ended by NUL, so any file name survives. Returns the complete records and the
 * unfinished tail.
 */
export function parseEvents(text: string, source: string): { events: WatchEvent[]; rest: string } {
  const records = text.split('\0');
  const rest = records.pop() ?? '';
  const events: WatchEvent[] = [];
  for (const record of records) {
    const space = record.indexOf(' ');
    if (space === -1) continue;
    const names = record.slice(0, space).split(',');
    const rel = path.relative(source, record.slice(space + 1));
    events.push({ events: names, path: rel.startsWith('..') ? '' : rel });
  }
  return { events, rest };
}

/** A file-name glob with `*` and `?` only, matched against the last path component. */
export function ignoredByWatch(rel: string, patterns: readonly string[]): boolean {
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  return patterns.some((pattern) => globToRegExp(pattern).test(name));
}

const globCache = new Map<string, RegExp>();
function globToRegExp(glob: string): RegExp {
  let re = globCache.get(glob);
  if (re === undefined) {
    const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    re = new RegExp(`^${body}$`);
    globCache.set(glob, re);
  }
  return re;
}

/** Every path below a directory that appeared whole (created, or moved in), itself included. */
function pathsBelow(source: string, rel: string): string[] {
  const found = [rel];
  try {
    for (const entry of fs.readdirSync(path.join(source, rel), { recursive: true, encoding: 'utf8' })) found.push(`${rel}/${entry}`);
  } catch {
    // gone again before the batch ran: its deletion is what gets sent
  }
  return found;
}

export interface WatchOptions {
  targets: readonly Target[];
  write: (line: string) => void;
}

/** A reporter that stays quiet: watch prints one line per batch itself. */
function batchReporter(): Reporter & { outcomes: TargetOutcome[] } {
  const outcomes: TargetOutcome[] = [];
  return {
    outcomes,
    note: () => undefined,
    progress: () => undefined,
    targetDone: (outcome) => outcomes.push(outcome),
    deployDone: () => undefined,
    finish: () => undefined,
  };
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
  const { config, log } = ctx;
  const source = config.source;
  const pending = new Set<string>();
  let fullPending = true; // start equal: one full pass (size and time) before the first batch
  let firstEventAt: number | undefined;
  let lastEventAt: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let lastStart = 0;
  let retryDelay = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryPending = false;
  // paths of a batch that failed as a whole (the lock not had, an empty source): kept for the retry
  const deferred = new Set<string>();
  let deferredFull = false;
  let stopping = false;
  let watcher: ResultPromise | undefined;
  let batchNumber = 0;

  // A batch starts once the events have been quiet for settleMs, or maxWaitMs after the first of
  // them: one saved file goes out in milliseconds, and a burst of thousands of writes becomes a
  // few large batches instead of one small batch after another for as long as the burst lasts.
  const schedule = (): void => {
    if (stopping || running !== undefined) return;
    if (pending.size === 0 && !fullPending && !retryPending) return;
    const now = Date.now();
    const quiet = config.watch.settleMs - (now - (lastEventAt ?? now));
    const cap = config.watch.maxWaitMs - (now - (firstEventAt ?? now));
    const wait = Math.max(0, Math.min(quiet, cap), config.watch.minDelayMs - (now - lastStart));
    clearTimeout(timer);
    timer = setTimeout(flush, wait);
  };

  const flush = (): void => {
    timer = undefined;
    const paths = [...pending];
    pending.clear();
    const full = fullPending;
    fullPending = false;
    retryPending = false;
    const since = firstEventAt ?? Date.now();
    firstEventAt = undefined;
    lastStart = Date.now();
    running = runBatch(full ? undefined : paths, since).finally(() => {
      running = undefined;
      schedule();
    });
  };

  const runBatch = async (paths: string[] | undefined, since: number): Promise<void> => {
    batchNumber += 1;
    const reporter = batchReporter();
    let entry: HistoryEntry | undefined;
    try {
      entry = await deploy(
        { ...ctx, reporter },
        { revision: { kind: 'source' }, reason: 'watch', startedBy: 'fanout watch' },
        paths === undefined
          ? { dryRun: false, targets: options.targets.map((t) => t.name), full: true, checksum: false }
          : { dryRun: false, targets: options.targets.map((t) => t.name), full: false, outsidePaths: paths },
      );
    } catch (error) {
      log.error({ error: errorMessage(error) }, 'watch batch failed');
      options.write(`batch ${batchNumber}: ${errorMessage(error)}`);
      if (paths === undefined) deferredFull = true;
      else for (const p of paths) deferred.add(p);
    }
    const latencyMs = Date.now() - since;
    const failed = reporter.outcomes.filter((o) => o.status === 'failed');
    const what = paths === undefined ? 'full pass' : `${paths.length} path${paths.length === 1 ? '' : 's'}`;
    const results = reporter.outcomes.map((o) => `${o.name} ${o.status}${o.status === 'ok' && o.mode !== 'none' ? ` ${o.sent}+${o.deleted}` : ''}`).join(', ');
    log.info({ batch: batchNumber, paths: paths?.length ?? 'full', latencyMs, targets: reporter.outcomes }, 'watch batch');
    if (entry !== undefined) options.write(`batch ${batchNumber}: ${what} -> ${results} in ${latencyMs}ms`);
    // A target that is down is retried with backoff; its journal entry remembers what it lacks,
    // and a batch with no new paths sends only that.
    if (failed.length > 0 || entry === undefined) {
      retryDelay = Math.min(config.watch.maxRetryDelay * 1000, retryDelay === 0 ? config.retryDelay * 1000 : retryDelay * 2);
      log.warn({ targets: failed.map((f) => f.name), retryInMs: retryDelay }, 'watch will retry');
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        firstEventAt ??= Date.now();
        retryPending = true;
        for (const p of deferred) pending.add(p);
        deferred.clear();
        fullPending ||= deferredFull;
        deferredFull = false;
        schedule();
      }, retryDelay);
    } else {
      retryDelay = 0;
    }
  };

  const onEvent = (event: WatchEvent): void => {
    if (event.events.includes('Q_OVERFLOW')) {
      log.warn('inotify queue overflow: events were lost; a full pass follows');
      options.write('inotify queue overflowed: running a full pass');
      fullPending = true;
    } else {
      if (event.path === '' || ignoredByWatch(event.path, config.watch.ignore)) return;
      const appeared = event.events.includes('ISDIR') && (event.events.includes('CREATE') || event.events.includes('MOVED_TO'));
      // Files written into a new directory before inotifywait watched it raise no event of their own.
      for (const p of appeared ? pathsBelow(source, event.path) : [event.path]) pending.add(p);
    }
    firstEventAt ??= Date.now();
    lastEventAt = Date.now();
    schedule();
  };

  const startWatcher = async (): Promise<void> => {
    const child = execa('inotifywait', ['-m', '-r', '--format', '%e %w%f%0', '--no-newline', '-e', EVENTS, source], {
      reject: false,
      buffer: false,
      stdin: 'ignore',
    });
    watcher = child;
    let ready: () => void = () => undefined;
    const established = new Promise<void>((resolve) => {
      ready = resolve;
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.includes('Watches established')) ready();
    });
    let carry = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const { events, rest } = parseEvents(carry + chunk, source);
      carry = rest;
      for (const event of events) onEvent(event);
    });
    void child.then((result) => {
      ready();
      if (stopping || watcher !== child) return;
      // A dead watcher (a crash, the watch limit) loses events: full pass, then watch anew.
      const why = stderr.trim().split('\n').filter((l) => !/Setting up watches|Watches established/.test(l)).at(-1) ?? `exit ${result.exitCode ?? result.signal ?? '?'}`;
      log.error({ why }, 'inotifywait stopped; restarting it and running a full pass');
      options.write(`watcher stopped (${why}); restarting it, then a full pass`);
      fullPending = true;
      setTimeout(() => {
        if (!stopping) void startWatcher().then(schedule);
      }, 1000);
    });
    await established;
  };

  const stopped = new Promise<void>((resolve) => {
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      clearTimeout(timer);
      clearTimeout(retryTimer);
      watcher?.kill('SIGTERM');
      log.info('watch stopping: finishing the batch in flight');
      void (running ?? Promise.resolve()).then(resolve);
    };
    // `on`, not `once`: execa's cleanup handler re-raises a signal that no other listener holds
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });

  await startWatcher();
  log.info({ source, targets: options.targets.map((t) => t.name) }, 'watching');
  firstEventAt = Date.now();
  flush();
  await running;
  options.write(`watching ${source} for ${options.targets.map((t) => t.name).join(', ')}`);
  await stopped;
  options.write('watch stopped');
}
