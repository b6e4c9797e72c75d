import { describe, expect, it } from 'vitest';
import type { Config, Target } from '../../../src/base/config.js';
import type { Commit } from '../../../src/base/git.js';
import type { HistoryEntry, State, TargetOutcome, TargetState } from '../../../src/engine/journal.js';
import { pushSucceeded, rejectionLine, targetsToRestore } from '../../../src/deploy/push-gate.js';

const OLD = 'a'.repeat(40) as Commit;
const NEW = 'b'.repeat(40) as Commit;

function outcome(name: string, status: 'ok' | 'failed', error?: string): TargetOutcome {
  return { name, status, mode: 'paths', from: OLD, sent: 1, deleted: 0, bytes: 1, durationMs: 1, attempts: 1, ...(error === undefined ? {} : { error }) };
}

function entry(targets: TargetOutcome[], more: Partial<HistoryEntry> = {}): HistoryEntry {
  return { id: 2, startedAt: 't0', finishedAt: 't1', commit: NEW, subject: 'second', reason: 'push', startedBy: 'git push by alice', targets, ...more };
}

function farm(layouts: Record<string, 'in-place' | 'slots'>): Pick<Config, 'targets'> {
  const targets = Object.entries(layouts).map(([name, kind]) => ({ name, layout: kind === 'slots' ? { kind, count: 2, graceMs: 0, shared: [] } : { kind } }) as unknown as Target);
  return { targets };
}

/** The switch a deploy with slots records: who switched, and who was left lagging. */
function switched(lagging: string[]): Pick<HistoryEntry, 'switch'> {
  return { switch: { at: 't', skewMs: 1, switched: 1, held: [], lagging } };
}

const held = (commit: Commit, more: Partial<TargetState> = {}): TargetState => ({ commit, at: 't', status: 'ok', attempted: [], ...more });

function state(targets: Record<string, TargetState>, current: Commit | null = OLD): State {
  return { version: 1, nextDeployId: 4, current: current === null ? null : { commit: current, deployId: 1, at: 't' }, source: { commit: current, attempted: [] }, targets };
}

describe('pushSucceeded: the rule git accepts a gated push by', () => {
  it('takes every target ok, and nothing less with switch: all or in place', () => {
    expect(pushSucceeded(farm({ web1: 'in-place', web2: 'in-place' }), entry([outcome('web1', 'ok'), outcome('web2', 'ok')]))).toBe(true);
    expect(pushSucceeded(farm({ web1: 'in-place', web2: 'in-place' }), entry([outcome('web1', 'ok'), outcome('web2', 'failed')]))).toBe(false);
    // switch: all holds every slot when one failed: nobody switched, nobody lags
    expect(pushSucceeded(farm({ web1: 'slots', web2: 'slots' }), entry([outcome('web1', 'failed'), outcome('web2', 'failed')], { switch: undefined }))).toBe(false);
  });

  it('with slots and switch: available or a share, takes the targets that could: those left lagging serve what they served', () => {
    const slots = farm({ web1: 'slots', web2: 'slots', web3: 'slots' });
    expect(pushSucceeded(slots, entry([outcome('web1', 'ok'), outcome('web2', 'ok'), outcome('web3', 'failed')], switched(['web3'])))).toBe(true);
    // failed after its switch (an afterSwitch hook): it serves the release, and it failed
    expect(pushSucceeded(slots, entry([outcome('web1', 'ok'), outcome('web2', 'failed'), outcome('web3', 'failed')], switched(['web3'])))).toBe(false);
    expect(pushSucceeded(slots, entry([outcome('web1', 'failed'), outcome('web2', 'failed'), outcome('web3', 'failed')]))).toBe(false);
  });

  it('never takes a stopped rollout or a deploy that failed before any target', () => {
    const all = farm({ web1: 'in-place' });
    expect(pushSucceeded(all, entry([outcome('web1', 'ok')], { rollout: { waves: [['web1']], checks: [], stopped: { wave: 0, target: 'web1', detail: 'HTTP 500' } } }))).toBe(false);
    expect(pushSucceeded(all, entry([], { error: 'checkout failed' }))).toBe(false);
  });
});

describe('targetsToRestore: which targets a rejected push must put back', () => {
  it('those that took it, or were written and cut short; not one it failed on untouched', () => {
    const after = state({ web1: held(NEW), web2: held(OLD, { status: 'failed' }), web3: held(OLD, { status: 'failed', attempted: [NEW] }), web4: held(OLD) });
    const deploy = entry([outcome('web1', 'ok'), outcome('web2', 'failed'), outcome('web3', 'failed'), outcome('web4', 'ok')]);
    expect(targetsToRestore(after, deploy, OLD)).toEqual(['web1', 'web3']);
  });

  it('a switch of current cut short, or a target the journal has never seen', () => {
    expect(targetsToRestore(state({ web1: held(OLD, { switching: 'b' }) }), entry([outcome('web1', 'failed'), outcome('web2', 'failed')]), OLD)).toEqual(['web1', 'web2']);
  });
});

describe('rejectionLine: the last line of a rejected push', () => {
  it('names each failed target and its reason, and that the farm is back', () => {
    const deploy = entry([outcome('web1', 'ok'), outcome('web2', 'failed', 'cannot connect')]);
    expect(rejectionLine(deploy, state({ web1: held(OLD), web2: held(OLD, { status: 'failed' }) }))).toBe(`push rejected: web2 failed (cannot connect); every target serves ${OLD.slice(0, 10)} again`);
  });

  it('names a target that could not be put back', () => {
    const deploy = entry([outcome('web1', 'ok'), outcome('web2', 'failed', 'cannot connect')]);
    expect(rejectionLine(deploy, state({ web1: held(NEW), web2: held(OLD) }))).toMatch(/NOT put back on a{10}: web1 \(see fanout status/);
  });

  it('a stopped rollout says where it stopped; a first deploy has nothing to go back to', () => {
    const stopped = entry([outcome('web1', 'ok')], { rollout: { waves: [['web1']], checks: [], stopped: { wave: 0, target: 'web1', detail: 'HTTP 500' } } });
    expect(rejectionLine(stopped, state({ web1: held(OLD) }))).toMatch(/^push rejected: the rollout stopped at web1 \(HTTP 500\); every target serves/);
    expect(rejectionLine(entry([outcome('web1', 'failed', 'disk full')]), state({ web1: held(NEW) }, null))).toBe('push rejected: web1 failed (disk full); there was no earlier release to put back, so the targets that took it keep it');
  });
});
