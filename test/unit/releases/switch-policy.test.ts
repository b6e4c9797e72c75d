import { describe, expect, it } from 'vitest';
import type { Commit } from '../../../src/base/git.js';
import type { TargetOutcome, TargetState } from '../../../src/engine/journal.js';
import type { TargetPlan } from '../../../src/engine/target-plan.js';
import { decideSwitch, heldWhy, stagedFarm, switchPolicyName } from '../../../src/releases/switch-policy.js';

const A = 'a'.repeat(40) as Commit;
const B = 'b'.repeat(40) as Commit;

/** n targets named web1..webN */
function names(n: number, from = 1): string[] {
  return Array.from({ length: n }, (_, i) => `web${from + i}`);
}

describe('decideSwitch: one rule, a share of the farm, for all, available and "99%"', () => {
  it('all (100%): everyone staged, everyone switches; one missing, nobody does', () => {
    expect(decideSwitch(100, { ready: ['web1', 'web2'], missing: [], serving: 0 })).toEqual({ reached: true, share: 100, switching: ['web1', 'web2'], held: [], lagging: [] });
    expect(decideSwitch(100, { ready: ['web1', 'web2'], missing: ['web3'], serving: 0 })).toMatchObject({ reached: false, switching: [], held: ['web1', 'web2'], lagging: [] });
  });

  it('available (0%): those that staged switch, whoever failed; the others lag', () => {
    expect(decideSwitch(0, { ready: ['web1'], missing: ['web2', 'web3'], serving: 0 })).toMatchObject({ reached: true, switching: ['web1'], held: [], lagging: ['web2', 'web3'] });
    // nobody staged: nothing to switch, and nobody lags behind a switch that never happened
    expect(decideSwitch(0, { ready: [], missing: ['web1'], serving: 0 })).toMatchObject({ switching: [], held: [] });
  });

  it('a share: at or above it those that staged switch and the rest lag; below it nobody switches', () => {
    // 4 of 5 is 80%: exactly the share
    expect(decideSwitch(80, { ready: names(4), missing: ['web5'], serving: 0 })).toMatchObject({ reached: true, share: 80, switching: names(4), lagging: ['web5'] });
    expect(decideSwitch(80, { ready: names(3), missing: ['web4', 'web5'], serving: 0 })).toMatchObject({ reached: false, share: 60, switching: [], held: names(3), lagging: [] });
    // 99% of 100 lets one lag; of 50, none
    expect(decideSwitch(99, { ready: names(99), missing: ['web100'], serving: 0 }).reached).toBe(true);
    expect(decideSwitch(99, { ready: names(49), missing: ['web50'], serving: 0 }).reached).toBe(false);
    // 99.5% of 200 is 199, reached without rounding error
    expect(decideSwitch(99.5, { ready: names(199), missing: ['web200'], serving: 0 }).reached).toBe(true);
    expect(decideSwitch(99.5, { ready: names(198), missing: ['web199', 'web200'], serving: 0 }).reached).toBe(false);
  });

  it('counts the targets that have the release already, in the deploy or outside it', () => {
    // a sync of two lagging targets: the three others serve the commit; one of the two fails
    expect(decideSwitch(80, { ready: ['web4'], missing: ['web5'], serving: 3 })).toMatchObject({ reached: true, switching: ['web4'], lagging: ['web5'] });
    // nothing asked of anyone: reached, nothing to do
    expect(decideSwitch(100, { ready: [], missing: [], serving: 0 })).toMatchObject({ reached: true, share: 100, switching: [] });
  });
});

describe('stagedFarm: the farm counted from the deploy\'s outcomes and the journal', () => {
  const plan = (name: string, switchTo: string | undefined, slots = true): TargetPlan => ({
    name,
    from: A,
    sync: { kind: 'none' },
    preflight: undefined,
    alreadyAttempted: false,
    upToDate: false,
    slots: slots ? { stage: undefined, switchTo, repair: undefined } : undefined,
  });
  const outcome = (name: string, status: 'ok' | 'failed'): TargetOutcome => ({ name, status, mode: 'paths', from: A, sent: 0, deleted: 0, bytes: 0, durationMs: 0, attempts: 1 });
  const serves = (commit: Commit): TargetState => ({ commit, at: 't', status: 'ok', attempted: [] });

  it('ready to switch, failed, or serving it already; a target not written yet is not counted', () => {
    const plans = [plan('web1', '2'), plan('web2', '2'), plan('web3', undefined), plan('web4', undefined, false), plan('web5', '2')];
    const outcomes = new Map([outcome('web1', 'ok'), outcome('web2', 'failed'), outcome('web3', 'ok'), outcome('web4', 'ok')].map((o) => [o.name, o]));
    const config = { targets: names(5).map((name) => ({ name })) } as never;
    expect(stagedFarm(config, { targets: {} }, plans, outcomes, B)).toEqual({ ready: ['web1'], missing: ['web2'], serving: 2 });
  });

  it('the targets outside the deploy that serve the commit count as having it; those that do not, not at all', () => {
    const config = { targets: names(5).map((name) => ({ name })) } as never;
    const state = { targets: { web1: serves(B), web2: serves(B), web3: serves(A) } };
    const outcomes = new Map([outcome('web4', 'ok'), outcome('web5', 'failed')].map((o) => [o.name, o]));
    expect(stagedFarm(config, state, [plan('web4', '1'), plan('web5', '1')], outcomes, B)).toEqual({ ready: ['web4'], missing: ['web5'], serving: 2 });
  });
});

describe('the words', () => {
  it('names the policy as the config spells it', () => {
    expect([100, 0, 99, 99.5].map(switchPolicyName)).toEqual(['all', 'available', '99%', '99.5%']);
  });

  it('says why the staged targets were held: who failed, and what the share was against what was asked', () => {
    expect(heldWhy(100, decideSwitch(100, { ready: ['web1'], missing: ['web2'], serving: 0 }), ['web2'])).toBe('web2 failed, and switch: all keeps the farm on one version');
    const decision = decideSwitch(80, { ready: ['web1', 'web2'], missing: ['web3'], serving: 0 });
    expect(heldWhy(80, decision, ['web3'], 'failed to stage')).toBe('web3 failed to stage, so 66.7% of the farm has the release, short of the 80% that switch: 80% asks for');
  });
});
