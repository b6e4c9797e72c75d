import { describe, expect, it } from 'vitest';
import type { Commit } from '../../../src/base/git.js';
import type { HistoryEntry, Reason } from '../../../src/engine/journal.js';
import { deployStack, previousDeploy } from '../../../src/deploy/rollback.js';

const sha = (name: string): Commit => name.padEnd(40, '0') as Commit;
let id = 0;
const entry = (name: string, reason: Reason = 'push', dryRun = false): HistoryEntry => ({
  id: (id += 1),
  startedAt: '2026-01-01T00:00:00Z',
  finishedAt: '2026-01-01T00:00:01Z',
  commit: sha(name),
  subject: name,
  reason,
  startedBy: 'test',
  ...(dryRun ? { dryRun } : {}),
  targets: [],
});

describe('the deploy stack', () => {
  it('after A, B, C a rollback gives B, then A, then nothing', () => {
    const history = [entry('a'), entry('b'), entry('c')];
    expect(previousDeploy(history)).toBe(sha('b'));
    history.push(entry('b', 'rollback'));
    expect(previousDeploy(history)).toBe(sha('a'));
    history.push(entry('a', 'rollback'));
    expect(previousDeploy(history)).toBeUndefined();
  });

  it('a deploy that failed before writing any target (a failed build, a refusal) is not on the stack', () => {
    const history = [entry('a'), entry('b'), { ...entry('c'), error: 'the build of c failed: exit 2' }];
    expect(deployStack(history)).toEqual([sha('a'), sha('b')]);
    expect(previousDeploy(history)).toBe(sha('a'));
  });

  it('a refused push (its entry says refused, with the line its pusher saw) is not on the stack', () => {
    const history = [entry('a'), entry('b'), { ...entry('c'), refused: 'config /etc/fanout/fanout.yaml: targets[0].dest: expected ...' }];
    expect(deployStack(history)).toEqual([sha('a'), sha('b')]);
    expect(previousDeploy(history)).toBe(sha('a'));
  });

  it('a push after a rollback deploys normally, and the next rollback undoes that push', () => {
    const history = [entry('a'), entry('b'), entry('a', 'rollback'), entry('d')];
    expect(deployStack(history)).toEqual([sha('a'), sha('d')]);
    expect(previousDeploy(history)).toBe(sha('a'));
  });

  it('repeated deploys of one commit count once; manual, sync and watch deploys count like pushes', () => {
    const history = [entry('a'), entry('b', 'manual'), entry('b', 'sync'), entry('b', 'watch'), entry('c')];
    expect(deployStack(history)).toEqual([sha('a'), sha('b'), sha('c')]);
  });

  it('a rollback to a named revision goes down to it when it is on the stack, else goes on top', () => {
    expect(deployStack([entry('a'), entry('b'), entry('c'), entry('a', 'rollback')])).toEqual([sha('a')]);
    expect(deployStack([entry('a'), entry('b'), entry('x', 'rollback')])).toEqual([sha('a'), sha('b'), sha('x')]);
  });

  it('dry runs are not deploys', () => {
    expect(deployStack([entry('a'), entry('b', 'push', true)])).toEqual([sha('a')]);
    expect(previousDeploy([entry('a')])).toBeUndefined();
    expect(previousDeploy([])).toBeUndefined();
  });
});

describe('an automatic rollback on the stack', () => {
  it('takes the failed release off, like a rollback: the next rollback goes further back', () => {
    const history = [entry('a'), entry('b'), entry('c'), entry('b', 'auto-rollback')];
    expect(deployStack(history)).toEqual([sha('a'), sha('b')]);
    expect(previousDeploy(history)).toBe(sha('a'));
  });
});
