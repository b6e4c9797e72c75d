import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/base/config.js';
import type { Commit } from '../../../src/base/git.js';
import type { DeployOptions, DeployRequest } from '../../../src/deploy/deploy.js';
import type { HistoryEntry, TargetOutcome } from '../../../src/engine/journal.js';
import type { Reporter } from '../../../src/engine/report.js';
import type { ProgressEvent } from '../../../src/engine/progress.js';
import { BatchRunner, WATCH_REQUEST, batchLine, batcherTiming, deployOptionsOf, outcomeOf } from '../../../src/watch/batch-runner.js';
import type { BatcherTiming } from '../../../src/watch/batcher.js';
import { HandClock } from '../hand-clock.js';

const timing: BatcherTiming = { settleMs: 5, maxWaitMs: 1000, minDelayMs: 0, retryDelayMs: 2000, maxRetryDelayMs: 60_000 };

function outcome(name: string, status: 'ok' | 'failed', mode: TargetOutcome['mode'] = 'paths', sent = 1, deleted = 0): TargetOutcome {
  return { name, status, mode, from: null, sent, deleted, bytes: 0, durationMs: 1, attempts: 1 };
}

function entry(targets: TargetOutcome[]): HistoryEntry {
  return { id: 1, startedAt: '', finishedAt: '', commit: 'a'.repeat(40) as Commit, subject: '', reason: 'watch', startedBy: 'fanout watch', targets };
}

/** What a deploy does, one a call: each target's outcome, or an error thrown before any target. */
type Scripted = { targets: TargetOutcome[]; tookMs?: number; until?: Promise<void>; progress?: ProgressEvent[] } | { error: string };

/** A runner over a scripted deploy engine, a hand clock and a log kept as records. */
function setUp(script: Scripted[] = []) {
  const clock = new HandClock();
  const calls: { request: DeployRequest; options: DeployOptions }[] = [];
  const lines: string[] = [];
  const logs: { msg: string; [key: string]: unknown }[] = [];
  const log = pino({ level: 'info' }, { write: (text: string) => logs.push(JSON.parse(text) as { msg: string }) });
  const deploy = async (reporter: Reporter, request: DeployRequest, options: DeployOptions): Promise<HistoryEntry | undefined> => {
    calls.push({ request, options });
    const next = script.shift() ?? { targets: [outcome('web1', 'ok'), outcome('web2', 'ok')] };
    if ('error' in next) throw new Error(next.error);
    for (const event of next.progress ?? []) reporter.progress(event);
    await next.until;
    clock.t += next.tookMs ?? 0;
    for (const o of next.targets) reporter.targetDone(o);
    return entry(next.targets);
  };
  const runner = new BatchRunner({ timing, targets: ['web1', 'web2'], deploy, log, write: (line) => lines.push(line), clock });
  return { runner, clock, calls, lines, logs };
}

/** A runner past its start: the first full pass run; `script` is for the batches after it. */
async function started(script: Scripted[] = []) {
  const parts = setUp([{ targets: [outcome('web1', 'ok', 'full')] }, ...script]);
  parts.runner.tick();
  await parts.clock.advance(10);
  parts.calls.length = 0;
  parts.lines.length = 0;
  parts.logs.length = 0;
  return parts;
}

describe('BatchRunner', () => {
  it('starts with a full pass to every target, as a watch deploy of the source; its line says what each target got', async () => {
    const { runner, clock, calls, lines, logs } = setUp([{ targets: [outcome('web1', 'ok', 'full', 3, 1), outcome('web2', 'ok', 'none', 0, 0)], tookMs: 40 }]);
    runner.tick();
    expect(runner.inFlight).toBeDefined();
    await runner.inFlight;
    expect(calls).toEqual([{ request: { revision: { kind: 'source' }, reason: 'watch', startedBy: 'fanout watch' }, options: { dryRun: false, targets: ['web1', 'web2'], full: true, checksum: false } }]);
    expect(lines).toEqual(['batch 1: full pass -> web1 ok (3 sent, 1 deleted), web2 ok in 40ms']);
    expect(logs).toMatchObject([{ msg: 'watch batch', batch: 1, paths: 'full', latencyMs: 40 }]);
    expect(runner.inFlight).toBeUndefined();
    expect(clock.due).toEqual([]);
  });

  it('sends noted paths as one batch once they have been quiet for settleMs; the latency counts from the first event', async () => {
    const { runner, clock, calls, lines } = await started();
    clock.t = 100;
    runner.note({ paths: ['a.html'] });
    clock.t = 103;
    runner.note({ paths: ['b.html'] });
    expect(clock.due).toEqual([108]);
    await clock.advance(107);
    expect(calls).toEqual([]);
    await clock.advance(108);
    expect(calls.map((c) => c.options)).toEqual([{ dryRun: false, targets: ['web1', 'web2'], full: false, outsidePaths: ['a.html', 'b.html'] }]);
    expect(lines).toEqual(['batch 2: 2 paths -> web1 ok (1 sent, 0 deleted), web2 ok (1 sent, 0 deleted) in 8ms']);
  });

  it('a deploy that fails as a whole prints its error, no summary, and sends its paths again after retryDelay', async () => {
    const { runner, clock, calls, lines, logs } = await started([{ error: 'another deploy holds the lock' }]);
    clock.t = 100;
    runner.note({ paths: ['a.html'] });
    await clock.advance(105);
    expect(lines).toEqual(['batch 2: another deploy holds the lock']);
    expect(logs.map((l) => l.msg)).toEqual(['watch batch failed', 'watch batch', 'watch will retry']);
    expect(logs[2]).toMatchObject({ targets: [], retryInMs: 2000 });
    await clock.advance(2104);
    expect(calls).toHaveLength(1);
    await clock.advance(2105);
    expect(calls.map((c) => c.options.outsidePaths)).toEqual([['a.html'], ['a.html']]);
    // a retry's latency counts from when it fell due
    expect(lines.at(-1)).toBe('batch 3: 1 path -> web1 ok (1 sent, 0 deleted), web2 ok (1 sent, 0 deleted) in 0ms');
  });

  it('a batch in which a target failed is retried with no paths of its own, the log naming the target', async () => {
    const { runner, clock, calls, lines, logs } = await started([{ targets: [outcome('web1', 'ok'), outcome('web2', 'failed')] }]);
    clock.t = 100;
    runner.note({ paths: ['a.html'] });
    await clock.advance(105);
    expect(lines).toEqual(['batch 2: 1 path -> web1 ok (1 sent, 0 deleted), web2 failed in 5ms']);
    expect(logs.at(-1)).toMatchObject({ msg: 'watch will retry', targets: ['web2'], retryInMs: 2000 });
    await clock.advance(2105);
    expect(calls.map((c) => c.options.outsidePaths)).toEqual([['a.html'], []]);
  });

  it('a full pass owed after the watcher died waits until the runner is told to schedule', async () => {
    const { runner, clock, calls } = await started();
    clock.t = 100;
    runner.owe({ full: true });
    await clock.advance(5000);
    expect(calls).toEqual([]);
    runner.schedule();
    await clock.advance(5000);
    expect(calls.map((c) => c.options.full)).toEqual([true]);
  });

  it('stop lets the batch in flight finish and starts none after it', async () => {
    let finish: () => void = () => undefined;
    const until = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const { runner, clock, calls, lines } = await started([{ targets: [outcome('web1', 'ok')], until }]);
    clock.t = 100;
    runner.note({ paths: ['a.html'] });
    await clock.advance(105);
    runner.note({ paths: ['b.html'] });
    let stopped = false;
    void runner.stop().then(() => {
      stopped = true;
    });
    await clock.advance(200);
    expect(stopped).toBe(false);
    finish();
    await clock.advance(300);
    expect(stopped).toBe(true);
    expect(lines).toEqual(['batch 2: 1 path -> web1 ok (1 sent, 0 deleted) in 100ms']);
    await clock.advance(10_000);
    expect(calls).toHaveLength(1);
    expect(clock.due).toEqual([]);
  });

  it('stop with no batch in flight resolves at once, and cancels the timer set', async () => {
    const { runner, clock, calls } = await started();
    clock.t = 100;
    runner.note({ paths: ['a.html'] });
    expect(clock.due).toEqual([105]);
    await runner.stop();
    expect(clock.due).toEqual([]);
    await clock.advance(1000);
    expect(calls).toEqual([]);
  });
});

describe('what a batch asks and says', () => {
  it('asks the deploy engine for a full pass without checksums, or for the batch paths besides each plan', () => {
    expect(WATCH_REQUEST).toEqual({ revision: { kind: 'source' }, reason: 'watch', startedBy: 'fanout watch' });
    expect(deployOptionsOf({ kind: 'full', since: 0 }, ['a'])).toEqual({ dryRun: false, targets: ['a'], full: true, checksum: false });
    expect(deployOptionsOf({ kind: 'paths', paths: ['x', 'y'], since: 0 }, ['a', 'b'])).toEqual({ dryRun: false, targets: ['a', 'b'], full: false, outsidePaths: ['x', 'y'] });
  });

  it('a deploy that did not run failed; one with a failed target is "targets failed"', () => {
    expect(outcomeOf(undefined, [])).toBe('failed');
    expect(outcomeOf(entry([]), [outcome('a', 'ok'), outcome('b', 'failed')])).toBe('targets failed');
    expect(outcomeOf(entry([]), [outcome('a', 'ok')])).toBe('ok');
  });

  it('one path is singular; a target with nothing to send shows no counts, a failed one none either', () => {
    expect(batchLine(7, { kind: 'paths', paths: ['x'], since: 0 }, [outcome('a', 'ok', 'none', 0, 0), outcome('b', 'failed', 'paths', 2, 2), outcome('c', 'ok', 'paths', 2, 3)], 12)).toBe('batch 7: 1 path -> a ok, b failed, c ok (2 sent, 3 deleted) in 12ms');
  });

  it('takes its timing from the watch settings, the retry delay from the deploy retry (seconds to ms)', () => {
    const config = parseConfig('repo: /srv/git/site.git\nsource: /data/www\nretryDelay: 3\nwatch:\n  settleMs: 7\n  maxWaitMs: 900\n  minDelayMs: 50\n  maxRetryDelay: 120\ntargets:\n  - name: local\n    dest: /srv/mirror/www/\n', '/etc/fanout/fanout.yaml');
    expect(batcherTiming(config)).toEqual({ settleMs: 7, maxWaitMs: 900, minDelayMs: 50, retryDelayMs: 3000, maxRetryDelayMs: 120_000 });
  });
  it('a batch that runs 2 s or more says where it is every 2 s; a shorter one prints its line alone', async () => {
    let finishLong = (): void => undefined;
    let finishShort = (): void => undefined;
    const long = new Promise<void>((resolve) => (finishLong = resolve));
    const short = new Promise<void>((resolve) => (finishShort = resolve));
    const transfer: ProgressEvent[] = [
      { kind: 'phase', name: 'transfer', targets: ['web1'] },
      { kind: 'sent', target: 'web1', sent: { files: 3, bytes: 3000 } },
    ];
    const { runner, clock, lines } = setUp([
      { targets: [outcome('web1', 'ok', 'full', 3, 0)], progress: transfer, until: long },
      { targets: [outcome('web1', 'ok', 'paths', 3, 0)], progress: transfer, until: short },
    ]);
    runner.tick();
    await clock.advance(1999);
    expect(lines).toEqual([]);
    await clock.advance(4500);
    expect(lines).toEqual(['batch 1: transfer: ok 0, failed 0, left 1; 3 files, 3.0 kB sent so far; 2.0s', 'batch 1: transfer: ok 0, failed 0, left 1; 3 files, 3.0 kB sent so far; 4.0s']);
    finishLong();
    await clock.advance(4500);
    expect(lines.at(-1)).toBe('batch 1: full pass -> web1 ok (3 sent, 0 deleted) in 4500ms');
    expect(clock.due).toEqual([]);
    lines.length = 0;
    runner.note({ paths: ['a.html'] });
    await clock.advance(4505 + 1500);
    finishShort();
    await clock.advance(10_000);
    // 1.5 s of deploy, and the 5 ms the batch settled for before it
    expect(lines).toEqual(['batch 2: 1 path -> web1 ok (3 sent, 0 deleted) in 1505ms']);
  });
});
