import { describe, expect, it } from 'vitest';
import type { Commit } from '../../../src/base/git.js';
import { hookEnvironment } from '../../../src/releases/operator-hooks.js';

const C = 'c'.repeat(40) as Commit;

describe('what a hook is told', () => {
  it('the deploy in FANOUT_* variables; the target, host and slot for afterSwitch; the outcome for after', () => {
    const facts = { deployId: 7, commit: C, reason: 'push' as const, startedBy: 'alice', targets: ['web1', 'web2'] };
    expect(hookEnvironment('before', facts)).toEqual({ FANOUT_HOOK: 'before', FANOUT_DEPLOY_ID: '7', FANOUT_COMMIT: C, FANOUT_REASON: 'push', FANOUT_STARTED_BY: 'alice', FANOUT_TARGETS: 'web1 web2' });
    expect(hookEnvironment('afterSwitch', { ...facts, target: { name: 'web2', host: '10.0.0.2', slot: '2' } })).toMatchObject({ FANOUT_TARGET: 'web2', FANOUT_HOST: '10.0.0.2', FANOUT_SLOT: '2' });
    expect(hookEnvironment('afterSwitch', { ...facts, target: { name: 'web2', host: 'h', slot: undefined } }).FANOUT_SLOT).toBe('');
    expect(hookEnvironment('after', { ...facts, outcome: 'failed' }).FANOUT_OUTCOME).toBe('failed');
  });

  it('the person behind the deploy and its message, when known', () => {
    const facts = { deployId: 7, commit: C, reason: 'push' as const, startedBy: 'git push by alice (git)', targets: ['web1'] };
    expect(hookEnvironment('before', { ...facts, user: 'alice', message: 'new footer' })).toMatchObject({ FANOUT_STARTED_BY: 'git push by alice (git)', FANOUT_USER: 'alice', FANOUT_MESSAGE: 'new footer' });
    expect(Object.keys(hookEnvironment('before', facts)).filter((k) => k === 'FANOUT_USER' || k === 'FANOUT_MESSAGE')).toEqual([]);
  });
});
