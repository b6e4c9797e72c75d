import fs from 'node:fs';
import path from 'node:path';
import type { Config, Target } from '../base/config.js';
import { FanoutError, errorMessage } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import { bytesOf, displayPath, pathProblem, type RelPath } from '../base/paths.js';
import { refuseWatchWithBuild } from '../build/build.js';
import { MAX_CHANGES } from '../deploy/deploy-plan.js';
import { deploy } from '../deploy/deploy.js';
import type { Context } from '../engine/context.js';
import type { Change } from './batcher.js';
import { BatchRunner, batcherTiming } from './batch-runner.js';
import { systemClock } from './clock.js';
import { countDirectories, pathsBelow, watchBudgetWarning, watchLimit } from './inotify.js';
import { spawnInotifywait, startInotifywait, type InotifyHandlers, type WatchEvent } from './inotifywait.js';
import { UnwatchedDirectories } from './unwatched-poller.js';
import { WatcherLife } from './watcher-life.js';
import { writeWatchState } from './watcher-state.js';

/** Past this many paths in one appeared directory (or polled in all), a full pass: the deploy's own bound on named paths. */
const MAX_BATCH_PATHS = MAX_CHANGES;

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

/** Where watch looks: the directory inotifywait watches, and what turns its paths into the source's. */
interface Watched {
  /** the source, or watch.path in it */
  dir: string;
  /** watch.path as bytes, put before the paths its events name; undefined when the whole source is watched */
  mirrored: RelPath | undefined;
}

/** The watched directory; a watch.path that is no directory is refused before anything starts. */
function watchedOf(config: Config): Watched {
  // watch.path: only that directory is watched; its events still name paths from the source's top
  const mirrored = config.watch.path === undefined ? undefined : bytesOf(config.watch.path);
  const dir = mirrored === undefined ? config.source : path.join(config.source, config.watch.path ?? '');
  if (mirrored !== undefined && !fs.lstatSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new FanoutError(`watch.path ${config.watch.path ?? ''}: ${dir} is not a directory; create it (mkdir) or fix watch.path`);
  }
  return { dir, mirrored };
}

/** An event with its path from the source's top. */
function fromSource(event: WatchEvent, mirrored: RelPath | undefined): WatchEvent {
  return mirrored === undefined || event.path === '' ? event : { ...event, path: `${mirrored}/${event.path}` };
}

/** What handling an event needs: where the source is, what watch ignores, and where it says and notes things. */
interface EventSink {
  source: string;
  ignore: readonly string[];
  log: Logger;
  write: (line: string) => void;
  note: (change: Change) => void;
}

/** What an event asks of the next batch: its path, every path below a directory that appeared whole, or (an overflow) a full pass. */
function noteEvent(event: WatchEvent, sink: EventSink): void {
  if (event.events.includes('Q_OVERFLOW')) {
    sink.log.warn('inotify queue overflow: events were lost; a full pass follows');
    sink.write('inotify queue overflowed: running a full pass');
    sink.note({ full: true });
    return;
  }
  if (event.path === '' || ignoredByWatch(event.path, sink.ignore)) return;
  const problem = pathProblem(event.path);
  if (problem !== undefined) {
    sink.log.warn({ path: displayPath(event.path), problem }, 'watch: a path fanout does not act on; ignored');
    return;
  }
  const appeared = event.events.includes('ISDIR') && (event.events.includes('CREATE') || event.events.includes('MOVED_TO'));
  // Files written into a new directory before inotifywait watched it raise no event of their own.
  const below = appeared ? pathsBelow(sink.source, event.path, MAX_BATCH_PATHS) : [event.path];
  sink.note(below === undefined ? { full: true } : { paths: below });
}

/** The parts of a running watch, wired to each other: the batch runner, the unwatched directories' poller, the watcher's life. */
interface Parts {
  runner: BatchRunner;
  unwatched: UnwatchedDirectories;
  life: WatcherLife;
}

/**
 * Each part knows only its own options; they call one another through them (a lost watch makes
 * the life write degraded, a death makes the runner owe a full pass), and this is where they meet.
 */
function wire(ctx: Context, options: WatchOptions, watched: Watched, giveUp: (error: Error) => void): Parts {
  const { config, log } = ctx;
  const write = options.write;
  const clock = systemClock;
  const runner = new BatchRunner({
    timing: batcherTiming(config),
    targets: options.targets.map((t) => t.name),
    deploy: (reporter, request, how) => deploy({ ...ctx, reporter }, request, how),
    log,
    write,
    clock,
  });
  const note = (change: Change): void => {
    runner.note(change);
  };
  const keep = (rel: RelPath): boolean => !ignoredByWatch(rel, config.watch.ignore) && pathProblem(rel) === undefined;
  const degraded = (why: string): void => {
    life.degraded(why);
  };
  const unwatched = new UnwatchedDirectories({ source: config.source, limit: MAX_BATCH_PATHS, keep, note, degraded, log, write, clock });
  const sink: EventSink = { source: config.source, ignore: config.watch.ignore, log, write, note };
  const spawn = spawnInotifywait(log);
  const handlers = (died: (why: string) => void): InotifyHandlers => ({
    event: (event) => {
      noteEvent(fromSource(event, watched.mirrored), sink);
    },
    lostWatch: (dir) => {
      unwatched.lostWatch(dir);
    },
    died,
  });
  const life: WatcherLife = new WatcherLife({
    watched: watched.dir,
    backoff: { retryDelay: config.retryDelay, maxRetryDelay: config.watch.maxRetryDelay },
    start: (died) => startInotifywait(watched.dir, handlers(died), spawn),
    lostEvents: () => {
      runner.owe({ full: true });
    },
    resumed: () => {
      runner.schedule();
    },
    giveUp,
    writeState: (state) => {
      writeWatchState(config.stateDir, state);
    },
    log,
    write,
    clock,
  });
  return { runner, unwatched, life };
}

/**
 * How fanout watch ends: SIGTERM or SIGINT, or a watcher that gave up (`stop(error)`). Once: every
 * part is stopped, then `stopped` settles when the batch in flight has finished.
 */
function onStop(parts: () => Parts, log: Logger): { stopped: Promise<void>; stop: (error?: Error) => void } {
  let stop: (error?: Error) => void = () => undefined;
  const stopped = new Promise<void>((resolve, reject) => {
    let stopping = false;
    stop = (error) => {
      if (stopping) return;
      stopping = true;
      const { runner, unwatched, life } = parts();
      const inFlight = runner.stop();
      unwatched.stop();
      life.stop();
      log.info('watch stopping: finishing the batch in flight');
      void inFlight.then(() => {
        if (error === undefined) resolve();
        else reject(error);
      });
    };
    // `on`, not `once`: execa's cleanup handler re-raises a signal that no other listener holds
    process.on('SIGTERM', () => {
      stop();
    });
    process.on('SIGINT', () => {
      stop();
    });
  });
  stopped.catch(() => undefined);
  return { stopped, stop };
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
  const watched = watchedOf(config);
  const parts = wire(ctx, options, watched, (error) => {
    ending.stop(error);
  });
  const ending = onStop(() => parts, log);
  const { runner, life } = parts;
  const budget = watchBudgetWarning(countDirectories(watched.dir), watchLimit());
  if (budget !== undefined) {
    log.warn(budget);
    options.write(`warning: ${budget}`);
  }
  try {
    if (await life.start()) {
      log.info({ source: config.source, targets: options.targets.map((t) => t.name) }, 'watching');
      runner.tick();
      await runner.inFlight;
      options.write(`watching ${watched.dir} for ${options.targets.map((t) => t.name).join(', ')}`);
    }
    await ending.stopped;
    life.stopped();
    options.write('watch stopped');
  } catch (error) {
    life.failed(errorMessage(error));
    throw error;
  }
}
