import { describe, expect, it } from 'vitest';
import type { Target } from '../../../src/base/config.js';
import type { Context } from '../../../src/engine/context.js';
import { SWITCHES_AT_ONCE, SwitchesAhead, fireSwitches, switchesAtOnce, untilReady, type ArmedSwitch, type SwitchAnswer } from '../../../src/releases/switch-pool.js';

// Which switches are armed ahead, with the rsync replaced by a note of what was armed and called
// off: the choice is plain bookkeeping; the rsyncs themselves are tested against real daemons
// (test/integration/releases/switch.test.ts).

function farm(n: number): { target: Target; slot: string }[] {
  return Array.from({ length: n }, (_, i) => ({ target: { name: `web${i + 1}` } as Target, slot: '2' }));
}

function recorder(): { armed: string[]; cancelled: string[]; arm: (ctx: Context, target: Target, slot: string) => ArmedSwitch } {
  const armed: string[] = [];
  const cancelled: string[] = [];
  return {
    armed,
    cancelled,
    arm: (_ctx, target, slot) => {
      armed.push(target.name);
      return {
        target,
        slot,
        ready: Promise.resolve(),
        fire: () => Promise.resolve({ at: 1, error: undefined, untouched: false }),
        cancel: () => {
          cancelled.push(target.name);
        },
      };
    },
  };
}

describe('SwitchesAhead: at most a bounded number armed, those of the last targets to stage', () => {
  it('arms a target only once it has staged, and only among the last `limit` to finish', () => {
    const r = recorder();
    const ahead = new SwitchesAhead({} as Context, farm(6), 2, r.arm);
    for (const name of ['web3', 'web1', 'web2', 'web6']) ahead.staged(name, true);
    expect(r.armed).toEqual([]);
    ahead.staged('web5', true);
    ahead.staged('web4', true);
    expect(r.armed).toEqual(['web5', 'web4']);
    expect(ahead.take('web4')?.target.name).toBe('web4');
    expect(ahead.take('web4')).toBeUndefined();
    expect(ahead.take('web1')).toBeUndefined();
    ahead.cancel();
    expect(r.cancelled).toEqual(['web5']);
  });

  it('arms none for a target that failed, or one it was not asked to switch; a farm smaller than the limit is armed whole', () => {
    const r = recorder();
    const ahead = new SwitchesAhead({} as Context, farm(3), 64, r.arm);
    ahead.staged('web1', false);
    ahead.staged('elsewhere', true);
    ahead.staged('web2', true);
    ahead.staged('web3', true);
    ahead.staged('web3', true);
    expect(r.armed).toEqual(['web2', 'web3']);
  });
});

describe('switchesAtOnce: the bound, from the descriptors this process may open', () => {
  const limits = (open: string): string => `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${open}                ${open}                files\n`;

  it('is SWITCHES_AT_ONCE where descriptors are plenty, fewer where they are not, and never below 16', () => {
    expect(switchesAtOnce(limits('1048576'))).toBe(SWITCHES_AT_ONCE);
    expect(switchesAtOnce(limits('2048'))).toBe(448);
    expect(switchesAtOnce(limits('256'))).toBe(16);
    expect(switchesAtOnce('')).toBe(SWITCHES_AT_ONCE);
  });
});

describe('untilReady: every armed switch connected, or none becoming so for a while', () => {
  it('settles as soon as the last is ready', async () => {
    let last: () => void = () => undefined;
    const started = Date.now();
    const waiting = untilReady([Promise.resolve(), new Promise<void>((r) => (last = r))], 60_000);
    setTimeout(() => {
      last();
    }, 20);
    await waiting;
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('settles once none has become ready for the quiet time, though one never does', async () => {
    let settled = false;
    const waiting = untilReady([Promise.resolve(), new Promise<void>(() => undefined)], 50).then(() => (settled = true));
    // the first is ready within these turns of the microtask queue; the wait goes on
    for (let i = 0; i < 5; i += 1) await Promise.resolve();
    expect(settled).toBe(false);
    await waiting;
    expect(settled).toBe(true);
  });

  it('settles at once with nothing to wait for', async () => {
    await expect(untilReady([], 60_000)).resolves.toBeUndefined();
  });
});

describe('fireSwitches: the word to every armed switch, then fresh rsyncs in the places of those that answered', () => {
  /** Turns of the event loop until `done`, or fails. */
  async function until(done: () => boolean): Promise<void> {
    for (let turn = 0; turn < 1000 && !done(); turn += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(done()).toBe(true);
  }

  it('a lost switch retried for long holds its own place only: the others past the bound go on, never more than the bound at once, and their answers are told as they come', async () => {
    let running = 0;
    let most = 0;
    const enter = (): void => {
      running += 1;
      most = Math.max(most, running);
    };
    const fired: string[] = [];
    const done: string[] = [];
    let endRetry: () => void = () => undefined;
    const arm = (_ctx: Context, target: Target, slot: string): ArmedSwitch => {
      enter();
      return {
        target,
        slot,
        ready: Promise.resolve(),
        fire: async () => {
          fired.push(target.name);
          // web2's host answers the word a few turns late: its place is not free meanwhile
          for (let turn = 0; turn < (target.name === 'web2' ? 5 : 0); turn += 1) await new Promise((resolve) => setImmediate(resolve));
          await Promise.resolve();
          running -= 1;
          // web1's host went away while its switch waited
          return target.name === 'web1' ? { lost: true, untouched: true } : { at: 1, error: undefined, untouched: false };
        },
        cancel: () => undefined,
      };
    };
    const fresh = async (_ctx: Context, target: Target): Promise<SwitchAnswer> => {
      enter();
      // web1's retry takes as long as its host stays away
      if (target.name === 'web1') await new Promise<void>((resolve) => (endRetry = resolve));
      else await new Promise((resolve) => setImmediate(resolve));
      running -= 1;
      done.push(target.name);
      return { at: 2, error: undefined, untouched: false };
    };
    const told: string[] = [];
    const onAnswer = (i: number): number => told.push(`web${i + 1}`);
    const answering = fireSwitches({} as Context, farm(4), undefined, { makers: { arm, fresh, bound: 2 }, onAnswer });
    // the two armed get the word together; the two past the bound switch while web1 is still retried
    await until(() => done.includes('web3') && done.includes('web4'));
    expect(fired).toEqual(['web1', 'web2']);
    expect(done).not.toContain('web1');
    // and each answer is told as it comes, not once web1's retry is over
    await until(() => told.length === 3);
    expect([...told].sort()).toEqual(['web2', 'web3', 'web4']);
    endRetry();
    const answers = await answering;
    expect(told.at(-1)).toBe('web1');
    expect(answers.map((a) => a.at)).toEqual([2, 1, 2, 2]);
    // web1's first rsync touched nothing, its retry did
    expect(answers[0]?.untouched).toBe(false);
    expect(most).toBeLessThanOrEqual(2);
  });

  it('a rollout wave switching now gets room under the bound from switches armed ahead for later waves', async () => {
    let live = 0;
    let most = 0;
    const cancelled: string[] = [];
    const arm = (_ctx: Context, target: Target, slot: string): ArmedSwitch => {
      live += 1;
      most = Math.max(most, live);
      return {
        target,
        slot,
        ready: Promise.resolve(),
        fire: () => {
          live -= 1;
          return Promise.resolve({ at: 1, error: undefined, untouched: false });
        },
        cancel: () => {
          live -= 1;
          cancelled.push(target.name);
        },
      };
    };
    const fresh = (): Promise<SwitchAnswer> => Promise.reject(new Error('every switch here is armed'));
    const targets = farm(6);
    const ahead = new SwitchesAhead({} as Context, targets, 4, arm);
    for (const t of targets) ahead.staged(t.target.name, true);
    // the last four to stage were armed: web3 .. web6
    expect(ahead.size).toBe(4);
    // the canary wave: web1 and web2, armed now in place of the two armed first
    await fireSwitches({} as Context, targets.slice(0, 2), ahead, { makers: { arm, fresh, bound: 4 } });
    expect(cancelled).toEqual(['web3', 'web4']);
    expect(ahead.size).toBe(2);
    // the next wave takes web5 and web6 as armed, and arms web3 and web4 again
    const answers = await fireSwitches({} as Context, targets.slice(2), ahead, { makers: { arm, fresh, bound: 4 } });
    expect(answers.map((a) => a.at)).toEqual([1, 1, 1, 1]);
    expect(most).toBe(4);
    expect(live).toBe(0);
  });
});
