import { describe, expect, it } from 'vitest';
import type { Commit } from '../../../src/base/git.js';
import type { HistoryEntry, State, TargetState } from '../../../src/engine/journal.js';
import {
  beginCheckout,
  beginSwitch,
  beginTransfer,
  checkoutFailed,
  checkoutSucceeded,
  checkFailed,
  deployFinished,
  deployRefused,
  forgetOtherSlots,
  isLagging,
  laggedBehind,
  pushRejected,
  refusedBeforeTransfer,
  releaseJudged,
  slotLinked,
  sourceHolds,
  switchFailed,
  switchSucceeded,
  transferFailed,
  transferNotBegun,
  transferSucceeded,
  upToDate,
} from '../../../src/engine/state.js';

const A = 'a'.repeat(40) as Commit;
const B = 'b'.repeat(40) as Commit;
const C = 'c'.repeat(40) as Commit;

function state(targets: Record<string, TargetState> = {}): State {
  return { version: 1, nextDeployId: 3, current: { commit: A, deployId: 2, at: 't0' }, source: { commit: A, attempted: [] }, targets };
}

const ok = (commit: Commit, more: Partial<TargetState> = {}): TargetState => ({ commit, at: 't0', status: 'ok', attempted: [], ...more });

describe('upToDate: the one answer to "does this target have that commit, completely"', () => {
  it('is true only for an ok target at the commit, with nothing cut short or pending from outside git', () => {
    expect(upToDate(ok(A), A)).toBe(true);
    expect(upToDate(ok(B), A)).toBe(false);
    expect(upToDate(ok(A, { status: 'failed' }), A)).toBe(false);
    expect(upToDate(ok(A, { attempted: [B] }), A)).toBe(false);
    expect(upToDate(ok(A, { dirty: ['x.html'] }), A)).toBe(false);
    expect(upToDate(undefined, A)).toBe(false);
    expect(upToDate(ok(A), null)).toBe(false);
  });

  it('the source holds a commit only with no checkout since cut short', () => {
    expect(sourceHolds(state(), A)).toBe(true);
    const s = state();
    beginCheckout(s, B);
    expect(sourceHolds(s, A)).toBe(false);
    expect(sourceHolds(s, B)).toBe(false);
  });
});

describe('a transfer', () => {
  it('begins by noting the attempt and the outside-git paths, once each', () => {
    const s = state({ web1: ok(A, { dirty: ['a.html'] }) });
    beginTransfer(s, 'web1', B, ['a.html', 'b.html']);
    beginTransfer(s, 'web1', B, []);
    expect(s.targets.web1).toMatchObject({ commit: A, attempted: [B], dirty: ['a.html', 'b.html'] });
    beginTransfer(s, 'new', B, []);
    expect(s.targets.new).toEqual({ commit: null, at: null, status: 'failed', attempted: [B] });
  });

  it('that succeeds leaves the target at the commit with nothing pending', () => {
    const s = state({ web1: ok(A, { attempted: [B], dirty: ['x'], error: 'old' }) });
    transferSucceeded(s, 'web1', B, 't1');
    expect(s.targets.web1).toEqual({ commit: B, at: 't1', status: 'ok', attempted: [] });
  });

  it('that fails keeps the old commit; the attempt is forgotten only when nothing moved and it was new', () => {
    const cut = state({ web1: ok(A) });
    beginTransfer(cut, 'web1', B, []);
    transferFailed(cut, 'web1', B, 'broke off', { untouched: false, alreadyAttempted: false });
    expect(cut.targets.web1).toMatchObject({ commit: A, status: 'failed', error: 'broke off', attempted: [B] });

    const refused = state({ web1: ok(A) });
    beginTransfer(refused, 'web1', B, []);
    transferFailed(refused, 'web1', B, 'connection refused', { untouched: true, alreadyAttempted: false });
    expect(refused.targets.web1).toMatchObject({ commit: A, status: 'failed', attempted: [] });

    // an earlier attempt of the same commit was cut short: a refusal now does not clear that
    const again = state({ web1: ok(A, { attempted: [B] }) });
    transferFailed(again, 'web1', B, 'connection refused', { untouched: true, alreadyAttempted: true });
    expect(again.targets.web1?.attempted).toEqual([B]);
  });

  it('recorded as begun and never started (its slot could not be prepared) is withdrawn, unless tried before; its slot keeps what it holds', () => {
    const s = state({ web1: ok(A, { slots: { '2': ok(C) }, live: '1' }) });
    beginTransfer(s, 'web1', B, ['x.html'], '2');
    transferNotBegun(s, 'web1', B, 'the shared paths could not be linked', false, '2');
    expect(s.targets.web1).toMatchObject({ status: 'failed', error: 'the shared paths could not be linked', dirty: ['x.html'] });
    expect(s.targets.web1?.slots?.['2']).toMatchObject({ commit: C, status: 'ok', attempted: [] });

    const again = state({ web1: ok(A, { attempted: [B] }) });
    beginTransfer(again, 'web1', B, []);
    transferNotBegun(again, 'web1', B, 'refused', true);
    expect(again.targets.web1).toMatchObject({ commit: A, status: 'failed', attempted: [B] });
  });

  it('refused before any transfer changes only the status and the error', () => {
    const s = state({ web1: ok(A) });
    refusedBeforeTransfer(s, 'web1', 'media must become a file');
    expect(s.targets.web1).toEqual({ commit: A, at: 't0', status: 'failed', attempted: [], error: 'media must become a file' });
  });
});

describe('the source and the deploy', () => {
  it('a checkout begins noted, and its success clears a failure recorded before', () => {
    const s = state();
    checkoutFailed(s, 3, 'Permission denied');
    expect(s).toMatchObject({ nextDeployId: 4, source: { commit: A, error: 'Permission denied' } });
    beginCheckout(s, B);
    beginCheckout(s, B);
    expect(s.source.attempted).toEqual([B]);
    checkoutSucceeded(s, B);
    expect(s.source).toEqual({ commit: B, attempted: [] });
  });

  it('a finished deploy is the current one', () => {
    const s = state();
    deployFinished(s, 3, B, 't2');
    expect(s).toMatchObject({ nextDeployId: 4, current: { commit: B, deployId: 3, at: 't2' } });
  });
});

describe('slots: staging, switching, and what the target then serves', () => {
  it('a staged slot holds the commit; the target serves its live slot until the switch, then the new one', () => {
    const s = state({ web1: { ...ok(A), slots: { '1': ok(A) }, live: '1' } });
    beginTransfer(s, 'web1', B, ['hot.html'], '2');
    // until switched, the live slot and every other lack what was changed outside git
    expect(s.targets.web1).toMatchObject({ commit: A, dirty: ['hot.html'], slots: { '1': { dirty: ['hot.html'] }, '2': { attempted: [B], dirty: ['hot.html'] } } });
    transferSucceeded(s, 'web1', B, 't1', '2');
    expect(s.targets.web1?.slots?.['2']).toEqual({ commit: B, at: 't1', status: 'ok', attempted: [] });
    expect(upToDate(s.targets.web1, B)).toBe(false);
    beginSwitch(s, 'web1', '2');
    expect(upToDate(s.targets.web1, A)).toBe(false);
    switchSucceeded(s, 'web1', '2', 't2');
    expect(s.targets.web1).toMatchObject({ commit: B, at: 't2', status: 'ok', live: '2', slots: { '1': { commit: A, retiredAt: 't2', dirty: ['hot.html'] } } });
    expect(s.targets.web1?.switching).toBeUndefined();
    expect(upToDate(s.targets.web1, B)).toBe(true);
  });

  it('a failed stage fails the target (it still serves its live slot); a failed switch keeps "switching" unless nothing moved', () => {
    const s = state({ web1: { ...ok(A), slots: { '1': ok(A) }, live: '1' } });
    beginTransfer(s, 'web1', B, [], '2');
    transferFailed(s, 'web1', B, 'cannot connect', { untouched: true, alreadyAttempted: false }, '2');
    expect(s.targets.web1).toMatchObject({ commit: A, status: 'failed', error: 'cannot connect', slots: { '2': { status: 'failed', attempted: [] } } });
    beginSwitch(s, 'web1', '1');
    switchFailed(s, 'web1', 'timed out', false);
    expect(s.targets.web1?.switching).toBe('1');
    switchFailed(s, 'web1', 'refused', true);
    expect(s.targets.web1?.switching).toBeUndefined();
  });

  it('a slot keeps its links and retirement when restaged; slotLinked records the shared paths', () => {
    const s = state({ web1: { ...ok(A), slots: { '1': ok(A), '2': { ...ok(C), retiredAt: 'r' } }, live: '1' } });
    slotLinked(s, 'web1', '2', ['uploads']);
    transferSucceeded(s, 'web1', B, 't', '2');
    expect(s.targets.web1?.slots?.['2']).toEqual({ commit: B, at: 't', status: 'ok', attempted: [], retiredAt: 'r', linked: ['uploads'] });
  });
});

describe('lagging: the farm switched without a target', () => {
  it('is noted with the commit it lags behind and the first time it fell behind; its own switch ends it', () => {
    const s = state({ web1: ok(A, { status: 'failed', error: 'down', live: '1', slots: { '1': ok(A) } }) });
    laggedBehind(s, 'web1', B, 't1');
    expect(s.targets.web1?.lagging).toEqual({ commit: B, since: 't1' });
    expect(isLagging(s.targets.web1, B)).toBe(true);
    // behind the next release too: since the first time
    laggedBehind(s, 'web1', C, 't2');
    expect(s.targets.web1?.lagging).toEqual({ commit: C, since: 't1' });
    // the farm moved on without a switch that left it behind (a deploy held by switch: all): not lagging
    expect(isLagging(s.targets.web1, B)).toBe(false);
    transferSucceeded(s, 'web1', C, 't3', '2');
    switchSucceeded(s, 'web1', '2', 't3');
    expect(s.targets.web1?.lagging).toBeUndefined();
    expect(isLagging(s.targets.web1, C)).toBe(false);
  });
});

describe('forgetOtherSlots: after a repair, only the slots it vouches for', () => {
  it('forgets every slot but the live one and those named, keeping when each retired and what is linked in it', () => {
    const s = state({ web1: ok(C, { live: '2', slots: { '1': { ...ok(A), retiredAt: 't1', linked: ['uploads'] }, '2': ok(C), '3': ok(B) } }) });
    forgetOtherSlots(s, 'web1', ['3']);
    expect(s.targets.web1?.slots).toEqual({ '1': { commit: null, at: 't0', status: 'ok', attempted: [], retiredAt: 't1', linked: ['uploads'] }, '2': ok(C), '3': ok(B) });
    expect(s.targets.web1?.commit).toBe(C);
  });
});

describe('a release a check failed on', () => {
  const entry = (commit: Commit, more: Partial<HistoryEntry> = {}): HistoryEntry => ({ id: 4, startedAt: 't', finishedAt: 't', commit, subject: 's', reason: 'push', startedBy: 'git', targets: [], ...more });
  const check = (target: string, ok: boolean) => ({ target, ok, detail: ok ? 'HTTP 200' : 'HTTP 500', attempts: 1, durationMs: 5, at: 't9', wave: 0 });

  it('its host is failed with the check\'s answer, and the release is rejected until another commit is deployed', () => {
    const s = state({ web1: ok(B) });
    checkFailed(s, 'web1', 'HTTP 500');
    expect(s.targets.web1).toMatchObject({ commit: B, status: 'failed', error: 'check failed: HTTP 500' });
    releaseJudged(s, entry(B, { rollout: { waves: [['web1']], checks: [check('web1', false)], stopped: { wave: 0, target: 'web1', detail: 'HTTP 500' } } }));
    expect(s.rejected).toEqual({ commit: B, deployId: 4, target: 'web1', detail: 'HTTP 500', at: 't9' });
    // the automatic rollback is the failed deploy's own end
    releaseJudged(s, entry(A, { reason: 'auto-rollback' }));
    expect(s.rejected?.commit).toBe(B);
    // a redeploy of it without checks says nothing new of it
    releaseJudged(s, entry(B));
    expect(s.rejected?.commit).toBe(B);
    releaseJudged(s, entry(B, { rollout: { waves: [['web1']], checks: [check('web1', true)] } }));
    expect(s.rejected).toBeUndefined();
    releaseJudged(s, entry(B, { rollout: { waves: [['web1']], checks: [check('web1', false)] } }));
    releaseJudged(s, entry(C));
    expect(s.rejected).toBeUndefined();
  });

  it('with build, the commit it was built from is kept beside it', () => {
    const s = state();
    releaseJudged(s, entry(B, { build: { source: C, reused: false, durationMs: 1 }, rollout: { waves: [], checks: [check('web2', false)] } }));
    expect(s.rejected).toMatchObject({ commit: B, source: C, target: 'web2' });
  });

  it('a refusal is noted until a deploy of that commit (or of its build) finishes', () => {
    const s = state();
    deployRefused(s, B, 'the deploy would delete 18 files or directories', 't');
    releaseJudged(s, entry(C));
    expect(s.refused).toEqual({ commit: B, why: 'the deploy would delete 18 files or directories', at: 't' });
    releaseJudged(s, entry(A, { build: { source: B, reused: false, durationMs: 1 } }));
    expect(s.refused).toBeUndefined();
  });
});

describe('pushRejected: git drops a rejected push and its objects', () => {
  it('makes the deploy before current again, unless a rollback has made one since', () => {
    const before = { commit: A, deployId: 2, at: 't0' };
    const s = state();
    deployFinished(s, 3, B, 't1');
    pushRejected(s, B, before);
    expect(s.current).toEqual(before);
    deployFinished(s, 4, C, 't2');
    pushRejected(s, B, before);
    expect(s.current).toEqual({ commit: C, deployId: 4, at: 't2' });
  });
});
