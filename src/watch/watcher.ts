import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Target } from '../base/config.js';
import type { Change } from './batcher.js';
import { BatchRunner, batcherTiming } from './batch-runner.js';
import { systemClock } from './clock.js';
import { UnwatchedDirectories } from './unwatched-poller.js';
import { spawnInotifywait, startInotifywait, type InotifyRun, type StartResult, type WatchEvent } from './inotifywait.js';
import { MAX_CHANGES } from '../deploy/deploy-plan.js';
import { deploy, type Context } from '../deploy/deploy.js';
import { FanoutError, errorMessage } from '../base/errors.js';
import { refuseWatchWithBuild } from '../build/build.js';
import { countDirectories, pathsBelow, raiseLimitAdvice, watchBudgetWarning, watchLimit } from './inotify.js';
import { bytesOf, displayPath, pathProblem, type RelPath } from '../base/paths.js';
import { writeWatchState } from './watcher-state.js';

// exported here as before the split: what reads the records from watcher.ts still finds it
export { parseEvents, type WatchEvent } from './inotifywait.js';

/** Past this many paths in one appeared directory (or polled in all), a full pass: the deploy's own bound on named paths. */
const MAX_BATCH_PATHS = MAX_CHANGES;

/** Attempts to set the watches up before `fanout watch` gives up and exits 1. */
const START_ATTEMPTS = 5;

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
  let watcher: InotifyRun | undefined;
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
  const startWatcher = (): Promise<StartResult> => {
    const run: InotifyRun = startInotifywait(
      watched,
      {
        event: (event) => {
          onEvent(mirrored === undefined || event.path === '' ? event : { ...event, path: `${mirrored}/${event.path}` });
        },
        lostWatch: (dir) => {
          unwatched.lostWatch(dir);
        },
        died: (said) => {
          if (stopping || watcher !== run) return;
          // A watcher that dies after its start (a crash) lost events: a full pass once it watches again.
          log.error({ why: said }, 'inotifywait stopped; restarting it, then a full pass');
          options.write(`watcher stopped (${said}); restarting it, then a full pass`);
          // the full pass waits for the watcher: events lost until then are in it
          runner.owe({ full: true });
          void startWithBackoff().then((watching) => {
            if (watching) runner.schedule();
          });
        },
      },
      spawnInotifywait(log),
    );
    watcher = run;
    return run.started;
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
      watcher?.kill();
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
