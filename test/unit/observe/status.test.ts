import { describe, expect, it } from 'vitest';
import type { Commit } from '../../../src/base/git.js';
import type { State } from '../../../src/engine/journal.js';
import { autoRollbackLine, farmStatus, lastAutoRollback, slotsLine, statusDocument, targetStatuses, targetsToSync } from '../../../src/observe/status.js';
import type { HistoryEntry } from '../../../src/engine/journal.js';

const A = 'a'.repeat(40) as Commit;
const B = 'b'.repeat(40) as Commit;
const C = 'c'.repeat(40) as Commit;

function state(targets: State['targets']): State {
  return { version: 1, nextDeployId: 3, current: { commit: B, deployId: 2, at: '2026-01-01T00:00:00Z' }, source: { commit: B, attempted: [] }, targets };
}

describe('target health against the current deploy', () => {
  it('ok, behind, failed and unknown', () => {
    const statuses = targetStatuses(['ok', 'behind', 'failed', 'cut', 'never'], state({
      ok: { commit: B, at: 't', status: 'ok', attempted: [] },
      behind: { commit: A, at: 't', status: 'ok', attempted: [] },
      failed: { commit: A, at: 't', status: 'failed', error: 'cannot connect', attempted: [] },
      cut: { commit: A, at: 't', status: 'ok', attempted: [B] },
    }));
    expect(statuses.map((s) => [s.name, s.health])).toEqual([
      ['ok', 'ok'],
      ['behind', 'behind'],
      ['failed', 'failed'],
      ['cut', 'failed'],
      ['never', 'unknown'],
    ]);
    expect(statuses[2]?.error).toBe('cannot connect');
    expect(statuses[3]?.error).toBe('a deploy was cut short');
    expect(statuses[0]?.error).toBeUndefined();
  });

  it('a target whose first deploy failed is failed, not unknown', () => {
    const [s] = targetStatuses(['w'], state({ w: { commit: null, at: null, status: 'failed', error: 'auth', attempted: [] } }));
    expect(s).toMatchObject({ health: 'failed', commit: null, error: 'auth' });
  });
});

describe('a target the farm switched without (switch: a share, or available)', () => {
  const left = { commit: A, at: 't', status: 'failed' as const, error: 'staging slot 2: cannot connect', attempted: [], live: '1', lagging: { commit: B, since: 's' } };

  it('lags while it does not have the current deploy: its row says so and why, and sync takes it', () => {
    const [s] = targetStatuses(['web5'], state({ web5: left }));
    expect(s).toMatchObject({ health: 'lagging', commit: A, lagging: { commit: B, since: 's' } });
    expect(s?.error).toBe('not switched, serves its old release; fanout sync catches it up: staging slot 2: cannot connect');
    expect(targetsToSync(['web5'], state({ web5: left }))).toEqual(['web5']);
    expect(farmStatus(['web5'], state({ web5: left }), B, undefined).ok).toBe(false);
  });

  it('a note from an older deploy means nothing once the farm has moved on; a switch cut short is failed first', () => {
    expect(targetStatuses(['web5'], state({ web5: { ...left, lagging: { commit: C, since: 's' } } }))[0]?.health).toBe('failed');
    expect(targetStatuses(['web5'], state({ web5: { ...left, switching: '2' } }))[0]?.health).toBe('failed');
    expect(targetStatuses(['web5'], state({ web5: { ...left, commit: B, status: 'ok', error: undefined } }))[0]?.health).toBe('ok');
  });
});

describe('what sync catches up, and edits made outside git', () => {
  it('a target that lacks edits watch noted is behind, and sync takes it with the failed and unknown ones', () => {
    const s = state({
      ok: { commit: B, at: 'x', status: 'ok', attempted: [] },
      dirty: { commit: B, at: 'x', status: 'ok', attempted: [], dirty: ['hot.html'] },
      old: { commit: A, at: 'x', status: 'ok', attempted: [] },
      down: { commit: A, at: 'x', status: 'failed', attempted: [], error: 'cannot connect' },
    });
    expect(targetStatuses(['dirty'], s)[0]?.health).toBe('behind');
    expect(targetsToSync(['ok', 'dirty', 'old', 'down', 'never'], s)).toEqual(['dirty', 'old', 'down', 'never']);
  });
});

describe('farmStatus: what fanout status says, from data', () => {
  const healthy = { ok: { commit: B, at: 'x', status: 'ok' as const, attempted: [] } };

  it('is ok only when every target is, the source checked out, and watch is not failing', () => {
    expect(farmStatus(['ok'], state(healthy), B, undefined)).toMatchObject({ ok: true, branchTip: B, sourceError: undefined });
    expect(farmStatus(['ok'], state(healthy), undefined, { line: 'watch: watching', failing: false }).ok).toBe(true);
    expect(farmStatus(['ok'], state(healthy), B, { line: 'watch: DEGRADED', failing: true }).ok).toBe(false);
    const failedCheckout = state(healthy);
    failedCheckout.source.error = 'Permission denied';
    expect(farmStatus(['ok'], failedCheckout, B, undefined)).toMatchObject({ ok: false, sourceError: 'Permission denied' });
    expect(farmStatus(['ok', 'never'], state(healthy), B, undefined).ok).toBe(false);
  });

  it('is not ok while the branch tip is not deployed, and says why: refused, failed its check, never deployed; an operator\'s own choice is said, not failed', () => {
    const ahead = state(healthy);
    expect(farmStatus(['ok'], ahead, C, undefined)).toMatchObject({ ok: false, tip: { deployed: false, failing: true, why: 'no deploy of it has finished (fanout deploy)' } });
    ahead.refused = { commit: C, why: 'the deploy would delete 18 files or directories on web1, more than maxDelete (10); nothing was touched', at: 't' };
    expect(farmStatus(['ok'], ahead, C, undefined)).toMatchObject({ ok: false, tip: { failing: true, why: 'refused: the deploy would delete 18 files or directories on web1, more than maxDelete (10); nothing was touched' } });
    // a refusal of another commit says nothing of this tip
    expect(farmStatus(['ok'], ahead, A, undefined).tip.why).toBe('no deploy of it has finished (fanout deploy)');
    const rejected = state(healthy);
    rejected.rejected = { commit: A, source: C, deployId: 3, target: 'web2', detail: 'HTTP 500', at: 't' };
    expect(farmStatus(['ok'], rejected, C, undefined).tip).toEqual({ deployed: false, failing: true, why: 'it failed its check on web2 in deploy #3 (HTTP 500)' });
    const chosen = farmStatus(['ok'], state(healthy), C, undefined, { id: 2, reason: 'rollback', startedBy: 'alice', build: undefined });
    expect(chosen).toMatchObject({ ok: true, tip: { deployed: false, failing: false, why: 'alice chose what the farm serves with fanout rollback (deploy #2); fanout deploy sends the tip' } });
    // with build: the tip is deployed when the current deploy is its build
    expect(farmStatus(['ok'], state(healthy), C, undefined, { id: 2, reason: 'push', startedBy: 'git', build: { source: C, reused: false, durationMs: 1 } }).ok).toBe(true);
  });
});

describe('statusDocument: the shape of fanout status --json', () => {
  it('names each commit with its subject, and carries watch and the source', () => {
    const s = state({ web1: { commit: B, at: 'x', status: 'ok', attempted: [] }, web2: { commit: A, at: 'y', status: 'failed', attempted: [], error: 'down' } });
    s.source.error = 'Permission denied';
    const watchState = { pid: 42, state: 'degraded' as const, since: 'z', message: 'lost a watch' };
    const status = farmStatus(['web1', 'web2', 'web3'], s, B, { line: 'watch: DEGRADED', failing: true });
    expect(statusDocument(status, new Map([[A, 'old'], [B, 'new']]), watchState, s)).toEqual({
      ok: false,
      current: { commit: B, deployId: 2, at: '2026-01-01T00:00:00Z', subject: 'new', build: null },
      branchTip: B,
      branchTipDeployed: true,
      branchTipProblem: null,
      rejected: null,
      targets: [
        { name: 'web1', health: 'ok', commit: B, at: 'x', error: undefined, subject: 'new' },
        { name: 'web2', health: 'failed', commit: A, at: 'y', error: 'down', subject: 'old' },
        { name: 'web3', health: 'unknown', commit: null, at: null, error: undefined, subject: null },
      ],
      watch: { ...watchState, failing: true },
      source: { commit: B, error: 'Permission denied' },
      autoRollback: null,
    });
    expect(statusDocument(farmStatus([], state({}), undefined, undefined), new Map(), undefined, state({}))).toMatchObject({ watch: null, branchTip: null, source: { error: null } });
    // with build: the current deploy's source commit and its build
    const build = { source: A, reused: false, durationMs: 4200 };
    expect(statusDocument(status, new Map(), undefined, s, undefined, build)).toMatchObject({ current: { commit: B, build } });
    // who made it, and why
    const by = { startedBy: 'git push by alice (git)', user: 'alice', message: 'new footer' };
    expect(statusDocument(status, new Map(), undefined, s, undefined, undefined, by)).toMatchObject({ current: { commit: B, ...by } });
  });
});

describe('slots in status', () => {
  it('the live slot, what the others hold, and a switch cut short as a failure', () => {
    const slot = (commit: Commit | null, more = {}) => ({ commit, at: 't', status: 'ok' as const, attempted: [] as Commit[], ...more });
    const s = state({
      web1: { commit: B, at: 't', status: 'ok', attempted: [], live: '2', slots: { '1': slot(A), '2': slot(B) } },
      web2: { commit: A, at: 't', status: 'ok', attempted: [], live: '1', switching: '2', slots: { '1': slot(A), '2': slot(B, { attempted: [B] }) } },
    });
    const [web1, web2] = targetStatuses(['web1', 'web2'], s);
    expect(web1).toMatchObject({ health: 'ok', live: '2' });
    expect(slotsLine(web1 ?? { name: '', health: 'ok', commit: null, at: null, error: undefined })).toBe('slot 2 live; slot 1 holds aaaaaaaaaa');
    expect(web2).toMatchObject({ health: 'failed', error: 'a switch of current to slot 2 was cut short: it points to that slot or to slot 1; the next deploy switches again' });
    expect(slotsLine(web2 ?? { name: '', health: 'ok', commit: null, at: null, error: undefined })).toBe('slot 1 live; slot 2 cut short (had bbbbbbbbbb)');
    expect(slotsLine({ name: 'x', health: 'ok', commit: null, at: null, error: undefined })).toBeUndefined();
  });
});

describe('an automatic rollback in status', () => {
  const entry = (id: number, commit: string, more: Partial<HistoryEntry> = {}): HistoryEntry => ({ id, startedAt: 't', finishedAt: 't', commit: commit as Commit, subject: '', reason: 'push', startedBy: 'git', targets: [], ...more });

  it('is named while it is the last deploy: which deploy failed its check, where, why, and where the farm went back to', () => {
    const history = [entry(1, A), entry(2, B, { rollout: { waves: [['web1']], checks: [], stopped: { wave: 0, target: 'web1', detail: 'HTTP 500' } } }), entry(3, A, { reason: 'auto-rollback' })];
    const found = lastAutoRollback(history);
    expect(found).toEqual({ deployId: 2, commit: B, target: 'web1', detail: 'HTTP 500', back: A });
    expect(autoRollbackLine(found ?? { deployId: 0, commit: '', target: '', detail: '', back: '' })).toBe(`rolled back automatically: deploy #2 of bbbbbbbbbb failed its check on web1 (HTTP 500); the farm went back to aaaaaaaaaa`);
    expect(lastAutoRollback([...history, entry(4, B)])).toBeUndefined();
    // a push refused since is no deploy: the rollback is still the last one
    expect(lastAutoRollback([...history, entry(4, C, { refused: 'commit cccccccccc has no files' })])).toEqual(found);
    expect(lastAutoRollback([])).toBeUndefined();
  });
});
