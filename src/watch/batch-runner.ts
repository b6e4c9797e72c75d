import type { Config } from '../base/config.js';
import { errorMessage } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import type { DeployOptions, DeployRequest } from '../deploy/deploy.js';
import type { HistoryEntry, TargetOutcome } from '../engine/journal.js';
import type { Reporter } from '../engine/report.js';
import { progressLines, type ProgressShow } from '../engine/progress-display.js';
import { done, newBatcher, noted, take, wakeIn, type Batch, type BatcherTiming, type Change } from './batcher.js';
import type { Clock } from './clock.js';

/**
 * The batch runner: runs what the batcher (batcher.ts) says is due through the deploy engine, one
 * batch at a time, and tells it how the batch went. It holds the one timer, set for the time the
 * batcher names; every decision about when and what is the batcher's.
 */
export interface BatchRunnerOptions {
  timing: BatcherTiming;
  /** target names, all of them, for every batch */
  targets: readonly string[];
  /** the deploy engine with its context bound, the batch's reporter in it */
  deploy: (reporter: Reporter, request: DeployRequest, options: DeployOptions) => Promise<HistoryEntry | undefined>;
  log: Logger;
  write: (line: string) => void;
  clock: Pick<Clock, 'now' | 'after'>;
}

/** The batcher's timing from the config: watch's own settings, and the deploy retry's. */
export function batcherTiming(config: Config): BatcherTiming {
  return {
    settleMs: config.watch.settleMs,
    maxWaitMs: config.watch.maxWaitMs,
    minDelayMs: config.watch.minDelayMs,
    retryDelayMs: config.retryDelay * 1000,
    maxRetryDelayMs: config.watch.maxRetryDelay * 1000,
  };
}

/** Every batch is a deploy of the source as it stands. */
export const WATCH_REQUEST: DeployRequest = { revision: { kind: 'source' }, reason: 'watch', startedBy: 'fanout watch' };

/** What the deploy engine is asked for a batch: a full pass, or the batch's paths besides each target's own plan. */
export function deployOptionsOf(batch: Batch, targets: readonly string[]): DeployOptions {
  return batch.kind === 'full'
    ? { dryRun: false, targets: [...targets], full: true, checksum: false }
    : { dryRun: false, targets: [...targets], full: false, outsidePaths: batch.paths };
}

/** How a batch went, as the batcher needs it: the deploy did not run at all, a target failed, or all is well. */
export function outcomeOf(entry: HistoryEntry | undefined, outcomes: readonly TargetOutcome[]): 'ok' | 'targets failed' | 'failed' {
  if (entry === undefined) return 'failed';
  return outcomes.some((o) => o.status === 'failed') ? 'targets failed' : 'ok';
}

/**
 * The one line a batch that ran prints: what it sent, each target's result (with what rsync sent
 * and deleted there, in the words of a deploy's lines), and how long since its first event.
 */
export function batchLine(batchNumber: number, batch: Batch, outcomes: readonly TargetOutcome[], latencyMs: number): string {
  const what = batch.kind === 'full' ? 'full pass' : `${batch.paths.length} path${batch.paths.length === 1 ? '' : 's'}`;
  const results = outcomes.map((o) => `${o.name} ${o.status}${o.status === 'ok' && o.mode !== 'none' ? ` (${o.sent} sent, ${o.deleted} deleted)` : ''}`).join(', ');
  return `batch ${batchNumber}: ${what} -> ${results} in ${latencyMs}ms`;
}

/**
 * A reporter that stays quiet, watch printing one line per batch itself, but for a batch that runs
 * long (the start's full pass of a large tree): where it is, every 2 s from its first 2 s on.
 */
function batchReporter(progress: ProgressShow): Reporter & { outcomes: TargetOutcome[] } {
  const outcomes: TargetOutcome[] = [];
  return {
    outcomes,
    note: () => undefined,
    progress: (event) => {
      progress.update(event);
    },
    buildLine: () => undefined,
    targetDone: (outcome) => outcomes.push(outcome),
    deployDone: () => {
      progress.stop();
    },
    finish: () => {
      progress.stop();
    },
  };
}

export class BatchRunner {
  private readonly batcher = newBatcher();
  private cancelTimer: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;
  private batchNumber = 0;

  constructor(private readonly options: BatchRunnerOptions) {}

  /** The batch that runs now, with the timer set again after it; undefined when none runs. */
  get inFlight(): Promise<void> | undefined {
    return this.running;
  }

  /** Paths changed, or a full pass is needed: the timer is set for what is then due. */
  note(change: Change): void {
    noted(this.batcher, this.options.clock.now(), change);
    this.schedule();
  }

  /**
   * A full pass owed that must not start yet: after the watcher died, events are lost until it
   * watches again, and a pass run before then would miss them. `schedule` once it watches.
   */
  owe(change: Change): void {
    noted(this.batcher, this.options.clock.now(), change);
  }

  /** One timer, for the time the batcher names. */
  schedule(): void {
    if (this.stopping) return;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const wait = wakeIn(this.batcher, this.options.clock.now(), this.options.timing);
    if (wait !== undefined) {
      this.cancelTimer = this.options.clock.after(wait, () => {
        this.tick();
      });
    }
  }

  /** Runs what is due now, if anything (the first call: the start's full pass), then sets the timer again. */
  tick(): void {
    this.cancelTimer = undefined;
    const batch = take(this.batcher, this.options.clock.now(), this.options.timing);
    if (batch !== undefined) {
      this.running = this.run(batch).finally(() => {
        this.running = undefined;
        this.schedule();
      });
    }
    this.schedule();
  }

  /** No batch starts from now on; resolves once the one in flight, if any, has finished. */
  stop(): Promise<void> {
    this.stopping = true;
    this.cancelTimer?.();
    return this.running ?? Promise.resolve();
  }

  private async run(batch: Batch): Promise<void> {
    const { log, write, clock, timing } = this.options;
    this.batchNumber += 1;
    const number = this.batchNumber;
    const progress = progressLines((line) => {
      write(`batch ${number}: ${line}`);
    }, clock, false);
    const reporter = batchReporter(progress);
    let entry: HistoryEntry | undefined;
    try {
      entry = await this.options.deploy(reporter, WATCH_REQUEST, deployOptionsOf(batch, this.options.targets));
    } catch (error) {
      log.error({ error: errorMessage(error) }, 'watch batch failed');
      write(`batch ${this.batchNumber}: ${errorMessage(error)}`);
    } finally {
      progress.stop();
    }
    const latencyMs = clock.now() - batch.since;
    const paths = batch.kind === 'paths' ? batch.paths : undefined;
    log.info({ batch: this.batchNumber, paths: paths?.length ?? 'full', latencyMs, targets: reporter.outcomes }, 'watch batch');
    if (entry !== undefined) write(batchLine(this.batchNumber, batch, reporter.outcomes, latencyMs));
    // A target that is down is retried with backoff; its journal entry remembers what it lacks,
    // and a batch with no new paths sends only that.
    done(this.batcher, batch, outcomeOf(entry, reporter.outcomes), clock.now(), timing);
    const failed = reporter.outcomes.filter((o) => o.status === 'failed').map((o) => o.name);
    if (this.batcher.retry !== undefined) log.warn({ targets: failed, retryInMs: this.batcher.retry.delayMs }, 'watch will retry');
  }
}
