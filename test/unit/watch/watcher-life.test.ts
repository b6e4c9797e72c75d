import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FanoutError } from '../../../src/base/errors.js';
import type { InotifyRun, StartResult } from '../../../src/watch/inotifywait.js';
import { START_ATTEMPTS, WatcherLife, nextStartIn } from '../../../src/watch/watcher-life.js';
import type { WatchState } from '../../../src/watch/watcher-state.js';

const NOW = Date.UTC(2024, 0, 2, 3, 4, 5);
const SINCE = '2024-01-02T03:04:05.000Z';
const ADVICE = 'raise the inotify watch limit (now 8192): sysctl fs.inotify.max_user_watches=65536, and put that line in /etc/sysctl.d/90-fanout.conf to keep it';
const LIMIT = 'Failed to watch /srv/www; upper limit on inotify watches reached!';

/** Lets the life's awaits go on. */
async function settle(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

/** One inotifywait run as the life sees it: started when the test says, dead when the test says. */
interface FakeRun {
  run: InotifyRun;
  settle: (result: StartResult) => void;
  died: (why: string) => void;
  killed: number;
}

/** A life over fake runs, a clock whose sleeps end when the test says (or at once), and everything it told kept. */
function setUp(options: { holdSleeps?: boolean } = {}) {
  const runs: FakeRun[] = [];
  const states: WatchState[] = [];
  const lines: string[] = [];
  const logs: { msg: string; attempt?: number; why?: string }[] = [];
  const sleeps: number[] = [];
  const wakers: (() => void)[] = [];
  const told = { lostEvents: 0, resumed: 0, gaveUp: [] as FanoutError[] };
  const life = new WatcherLife({
    watched: '/srv/www',
    backoff: { retryDelay: 1, maxRetryDelay: 3 },
    start: (died) => {
      let settleRun: (result: StartResult) => void = () => undefined;
      const started = new Promise<StartResult>((resolve) => {
        settleRun = resolve;
      });
      const fake: FakeRun = { run: { started, kill: () => (fake.killed += 1) }, settle: settleRun, died, killed: 0 };
      runs.push(fake);
      return fake.run;
    },
    lostEvents: () => (told.lostEvents += 1),
    resumed: () => (told.resumed += 1),
    giveUp: (error) => told.gaveUp.push(error),
    writeState: (state) => states.push(state),
    log: pino({}, { write: (text: string) => logs.push(JSON.parse(text) as { msg: string }) }),
    write: (line) => lines.push(line),
    clock: {
      now: () => NOW,
      sleep: async (ms) => {
        sleeps.push(ms);
        if (options.holdSleeps === true) await new Promise<void>((resolve) => wakers.push(resolve));
      },
    },
    watchLimit: () => 8192,
  });
  /** the nth run, once the life has started it */
  const run = async (n: number): Promise<FakeRun> => {
    for (let i = 0; i < 20 && runs.length <= n; i += 1) await settle();
    const found = runs[n];
    if (found === undefined) throw new Error(`no run ${n}`);
    return found;
  };
  return { life, runs, run, states, lines, logs, sleeps, wakers, told };
}

describe('nextStartIn', () => {
  it('waits retryDelay, doubling up to maxRetryDelay, then gives up after the fifth attempt', () => {
    const backoff = { retryDelay: 1, maxRetryDelay: 5 };
    expect([1, 2, 3, 4, 5].map((attempt) => nextStartIn(attempt, backoff))).toEqual([1000, 2000, 4000, 5000, undefined]);
    expect(nextStartIn(1, { retryDelay: 0.5, maxRetryDelay: 60 })).toBe(500);
    expect(START_ATTEMPTS).toBe(5);
  });
});

describe('WatcherLife', () => {
  it('is watching once the watches are set up, and watch.json says so', async () => {
    const { life, run, states, lines, sleeps } = setUp();
    const watching = life.start();
    (await run(0)).settle({ ok: true });
    expect(await watching).toBe(true);
    expect(states).toEqual([{ pid: process.pid, state: 'watching', since: SINCE }]);
    expect(lines).toEqual([]);
    expect(sleeps).toEqual([]);
  });

  it('a start that fails is tried again after a backoff, said each time, failing in watch.json, the limit advice when the limit was why', async () => {
    const { life, run, states, lines, logs, sleeps } = setUp();
    const watching = life.start();
    (await run(0)).settle({ ok: false, why: LIMIT, limit: true });
    (await run(1)).settle({ ok: false, why: "Couldn't watch /srv/www: No such file or directory", limit: false });
    (await run(2)).settle({ ok: true });
    expect(await watching).toBe(true);
    expect(lines).toEqual([`watcher cannot start (${LIMIT}); trying again in 1.0s`, "watcher cannot start (Couldn't watch /srv/www: No such file or directory); trying again in 2.0s"]);
    expect(sleeps).toEqual([1000, 2000]);
    expect(states).toEqual([
      { pid: process.pid, state: 'failing', since: SINCE, message: `inotifywait cannot watch /srv/www (${LIMIT}); ${ADVICE}` },
      { pid: process.pid, state: 'failing', since: SINCE, message: "inotifywait cannot watch /srv/www (Couldn't watch /srv/www: No such file or directory)" },
      { pid: process.pid, state: 'watching', since: SINCE },
    ]);
    expect(logs).toMatchObject([
      { msg: 'watcher cannot start', attempt: 1, why: LIMIT },
      { msg: 'watcher cannot start', attempt: 2 },
    ]);
  });

  it('gives up after five failed starts: fanout watch is to stop with exit 1, and nothing waits after the fifth', async () => {
    const { life, run, runs, sleeps, told, states } = setUp();
    const watching = life.start();
    for (let n = 0; n < 5; n += 1) (await run(n)).settle({ ok: false, why: LIMIT, limit: true });
    expect(await watching).toBe(false);
    expect(runs).toHaveLength(5);
    expect(sleeps).toEqual([1000, 2000, 3000, 3000]);
    expect(told.gaveUp).toHaveLength(1);
    expect(told.gaveUp[0]).toBeInstanceOf(FanoutError);
    expect(told.gaveUp[0]?.exitCode).toBe(1);
    expect(told.gaveUp[0]?.message).toBe(`watch: inotifywait cannot watch /srv/www (${LIMIT}); ${ADVICE}; gave up after 5 attempts`);
    expect(states.map((s) => s.state)).toEqual(['failing', 'failing', 'failing', 'failing', 'failing']);
  });

  it('a watcher that dies is restarted: a full pass owed at once, let run only once it watches again', async () => {
    const { life, run, runs, lines, logs, told, states } = setUp();
    const watching = life.start();
    const first = await run(0);
    first.settle({ ok: true });
    await watching;
    first.died('exit SIGKILL');
    expect(told.lostEvents).toBe(1);
    expect(lines).toEqual(['watcher stopped (exit SIGKILL); restarting it, then a full pass']);
    expect(logs).toMatchObject([{ msg: 'inotifywait stopped; restarting it, then a full pass', why: 'exit SIGKILL' }]);
    const second = await run(1);
    await settle();
    expect(told.resumed).toBe(0);
    second.settle({ ok: true });
    await settle();
    expect(told.resumed).toBe(1);
    expect(runs).toHaveLength(2);
    expect(states.map((s) => s.state)).toEqual(['watching', 'watching']);
  });

  it('a watcher that dies and then cannot start again gives up, and lets no full pass run', async () => {
    const { life, run, told } = setUp();
    void life.start();
    const first = await run(0);
    first.settle({ ok: true });
    first.died('exit 1');
    for (let n = 1; n <= 5; n += 1) (await run(n)).settle({ ok: false, why: LIMIT, limit: true });
    await settle();
    expect(told.gaveUp).toHaveLength(1);
    expect(told.lostEvents).toBe(1);
    expect(told.resumed).toBe(0);
  });

  it('hears a death only from the run now: not once stopped, not from a run replaced', async () => {
    const { life, run, runs, told } = setUp();
    void life.start();
    const first = await run(0);
    first.settle({ ok: true });
    first.died('exit 1');
    const second = await run(1);
    first.died('exit 1');
    second.settle({ ok: true });
    await settle();
    expect(runs).toHaveLength(2);
    life.stop();
    expect(second.killed).toBe(1);
    second.died('exit SIGTERM');
    await settle();
    expect(runs).toHaveLength(2);
    expect(told.lostEvents).toBe(1);
  });

  it('stopped while waiting between attempts: no start after it, and no giving up', async () => {
    const { life, run, runs, wakers, told } = setUp({ holdSleeps: true });
    const watching = life.start();
    (await run(0)).settle({ ok: false, why: LIMIT, limit: true });
    await settle();
    life.stop();
    for (const wake of wakers) wake();
    expect(await watching).toBe(false);
    expect(runs).toHaveLength(1);
    expect(told.gaveUp).toEqual([]);
  });

  it('writes degraded, stopped and failed for fanout status, with the time and why', () => {
    const { life, states } = setUp();
    life.degraded('a new directory cannot be watched (d)');
    life.stopped();
    life.failed('watch: gave up');
    expect(states).toEqual([
      { pid: process.pid, state: 'degraded', since: SINCE, message: 'a new directory cannot be watched (d)' },
      { pid: process.pid, state: 'stopped', since: SINCE },
      { pid: process.pid, state: 'failed', since: SINCE, message: 'watch: gave up' },
    ]);
    expect(states.map((s) => Object.keys(s))).toEqual([
      ['pid', 'state', 'since', 'message'],
      ['pid', 'state', 'since'],
      ['pid', 'state', 'since', 'message'],
    ]);
  });
});
