import { FanoutError } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import type { Clock } from './clock.js';
import { raiseLimitAdvice, watchLimit } from './inotify.js';
import type { InotifyRun, StartResult } from './inotifywait.js';
import type { WatchState } from './watcher-state.js';

/** Attempts to set the watches up before `fanout watch` gives up and exits 1. */
export const START_ATTEMPTS = 5;

/** The deploy retry's delays, in seconds as configured: a watcher that cannot start backs off alike. */
export interface Backoff {
  retryDelay: number;
  maxRetryDelay: number;
}

/**
 * After failed start number `attempt` (from 1): the wait before the next, in ms (retryDelay,
 * doubling, at most maxRetryDelay); undefined once START_ATTEMPTS have failed. A watcher that
 * cannot start is no watcher: fanout watch stops with exit 1 (systemd says failed, and restarts it
 * after RestartSec), never a loop of full passes.
 */
export function nextStartIn(attempt: number, backoff: Backoff): number | undefined {
  if (attempt >= START_ATTEMPTS) return undefined;
  return Math.min(backoff.maxRetryDelay, backoff.retryDelay * 2 ** (attempt - 1)) * 1000;
}

export interface WatcherLifeOptions {
  /** the directory watched, named in what is said */
  watched: string;
  backoff: Backoff;
  /** one inotifywait run; `died` is called if it ends after its watches were set up */
  start: (died: (why: string) => void) => InotifyRun;
  /** the watcher died: what happened until it watches again is lost, a full pass is owed */
  lostEvents: () => void;
  /** watching again after a death: the full pass owed may run */
  resumed: () => void;
  /** it cannot start: fanout watch stops, with this error */
  giveUp: (error: FanoutError) => void;
  /** watch.json, what `fanout status` says of watch */
  writeState: (state: WatchState) => void;
  log: Logger;
  write: (line: string) => void;
  clock: Pick<Clock, 'now' | 'sleep'>;
  /** the inotify watch limit, named in the advice (read from /proc unless a test says) */
  watchLimit?: () => number | undefined;
}

/**
 * The watcher's life: inotifywait started with backoff, restarted when it dies (a full pass
 * follows, since events were lost), given up on, and stopped; and each state of it written for
 * `fanout status`: watching, degraded, failing, stopped, failed.
 */
export class WatcherLife {
  /** set once fanout watch stops: no start and no restart after it */
  private stopping = false;
  /** the run now: only its death means a restart (a run replaced or stopped dies quietly) */
  private current: InotifyRun | undefined;

  constructor(private readonly options: WatcherLifeOptions) {}

  /** Sets the watches up, backing off between attempts; resolves true once watching. */
  async start(): Promise<boolean> {
    const { log, write } = this.options;
    for (let attempt = 1; !this.stopping; attempt += 1) {
      const started = await this.startOnce();
      if (started.ok) {
        this.tell('watching');
        return true;
      }
      const advice = started.limit ? `; ${raiseLimitAdvice((this.options.watchLimit ?? watchLimit)())}` : '';
      const message = `inotifywait cannot watch ${this.options.watched} (${started.why})${advice}`;
      log.error({ attempt, why: started.why }, 'watcher cannot start');
      this.tell('failing', message);
      const delay = nextStartIn(attempt, this.options.backoff);
      if (delay === undefined) {
        this.options.giveUp(new FanoutError(`watch: ${message}; gave up after ${attempt} attempts`, 1));
        return false;
      }
      write(`watcher cannot start (${started.why}); trying again in ${(delay / 1000).toFixed(1)}s`);
      await this.options.clock.sleep(delay);
    }
    return false;
  }

  /** No start or restart from now on; the run now is sent SIGTERM. */
  stop(): void {
    this.stopping = true;
    this.current?.kill();
  }

  /** A directory could not be watched: degraded until the watcher is restarted. */
  degraded(message: string): void {
    this.tell('degraded', message);
  }

  stopped(): void {
    this.tell('stopped');
  }

  failed(message: string): void {
    this.tell('failed', message);
  }

  private startOnce(): Promise<StartResult> {
    const run = this.options.start((why) => {
      this.died(run, why);
    });
    this.current = run;
    return run.started;
  }

  /** A watcher that dies after its start (a crash) lost events: a full pass once it watches again. */
  private died(run: InotifyRun, why: string): void {
    if (this.stopping || this.current !== run) return;
    this.options.log.error({ why }, 'inotifywait stopped; restarting it, then a full pass');
    this.options.write(`watcher stopped (${why}); restarting it, then a full pass`);
    // the full pass waits for the watcher: events lost until then are in it
    this.options.lostEvents();
    void this.start().then((watching) => {
      if (watching) this.options.resumed();
    });
  }

  private tell(state: WatchState['state'], message?: string): void {
    const since = new Date(this.options.clock.now()).toISOString();
    this.options.writeState(message === undefined ? { pid: process.pid, state, since } : { pid: process.pid, state, since, message });
  }
}
