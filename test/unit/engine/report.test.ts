import { describe, expect, it } from 'vitest';
import type { Commit } from '../../../src/base/git.js';
import type { HistoryEntry, TargetOutcome } from '../../../src/engine/journal.js';
import { humanReporter, itemLines, jsonReporter, paint, shortCommit, statusWord, summaryLine, table, targetLine } from '../../../src/engine/report.js';

const COMMIT = '0123456789abcdef0123456789abcdef01234567' as Commit;

function outcome(overrides: Partial<TargetOutcome>): TargetOutcome {
  return { name: 'web1', status: 'ok', mode: 'paths', from: null, sent: 0, deleted: 0, bytes: 0, durationMs: 0, attempts: 1, ...overrides };
}

function entry(targets: TargetOutcome[], overrides: Partial<HistoryEntry> = {}): HistoryEntry {
  return {
    id: 7,
    startedAt: '2025-01-01T10:00:00.000Z',
    finishedAt: '2025-01-01T10:00:01.500Z',
    commit: COMMIT,
    subject: 'Fix the footer',
    reason: 'push',
    startedBy: 'git push (alice)',
    targets,
    ...overrides,
  };
}

describe('shortCommit', () => {
  it('keeps ten characters', () => {
    expect(shortCommit(COMMIT)).toBe('0123456789');
  });
});

describe('targetLine', () => {
  it('an ok target: name padded, counts and duration', () => {
    const line = targetLine(outcome({ sent: 3, deleted: 1, durationMs: 1500 }), 8);
    expect(line).toBe('web1      ok      3 sent, 1 deleted  1.5s');
  });

  it('an ok target shows the size sent when there was any', () => {
    expect(targetLine(outcome({ sent: 2, deleted: 0, bytes: 1_500_000, durationMs: 2000 }), 4)).toBe('web1  ok      2 sent (1.5 MB), 0 deleted  2.0s');
  });

  it('an ok full pass says so', () => {
    expect(targetLine(outcome({ mode: 'full', sent: 120, deleted: 0, durationMs: 250 }), 4)).toBe('web1  ok      120 sent, 0 deleted (full pass)  0.25s');
  });

  it('a target with nothing to do is already up to date', () => {
    expect(targetLine(outcome({ mode: 'none', durationMs: 10 }), 4)).toBe('web1  ok      already up to date  0.01s');
  });

  it('a failed target shows its error', () => {
    const line = targetLine(outcome({ name: 'web2', status: 'failed', error: 'cannot connect: is the rsync daemon (or sshd) running and reachable? (rsync exit 10)' }), 6);
    expect(line).toBe('web2    failed  cannot connect: is the rsync daemon (or sshd) running and reachable? (rsync exit 10)');
  });

  it('a failed target without an error still says something', () => {
    expect(targetLine(outcome({ status: 'failed' }), 4)).toBe('web1  failed  unknown error');
  });

  it('aligns names of different lengths', () => {
    const a = targetLine(outcome({ name: 'a' }), 10);
    const b = targetLine(outcome({ name: 'longer-name' }), 10);
    expect(a.indexOf('ok')).toBe(12);
    expect(b.startsWith('longer-name  ok')).toBe(true);
  });

  it('paints status only with color on', () => {
    expect(targetLine(outcome({}), 4, false)).not.toContain('\u001b[');
    expect(targetLine(outcome({}), 4, true)).toContain('\u001b[32mok\u001b[0m');
    expect(targetLine(outcome({ status: 'failed', error: 'x' }), 4, true)).toContain('\u001b[31mfailed\u001b[0m');
  });
});

describe('summaryLine', () => {
  it('a deploy to every target', () => {
    expect(summaryLine(entry([outcome({ name: 'web1' }), outcome({ name: 'web2' })]))).toBe('deployed 0123456789 "Fix the footer" to 2/2 targets in 1.5s');
  });

  it('lists the failed targets', () => {
    const line = summaryLine(
      entry([outcome({ name: 'web1' }), outcome({ name: 'web2', status: 'failed', error: 'x' }), outcome({ name: 'web3' }), outcome({ name: 'web4', status: 'failed' })]),
    );
    expect(line).toBe('deployed 0123456789 "Fix the footer" to 2/4 targets in 1.5s; FAILED: web2, web4');
  });

  it('a deploy no target took says so, not "to 0/2 targets"', () => {
    const failed = [outcome({ name: 'web1', status: 'failed' }), outcome({ name: 'web2', status: 'failed' })];
    expect(summaryLine(entry(failed))).toBe('0123456789 "Fix the footer" reached no target: web1, web2 failed (see above); 1.5s');
    expect(summaryLine(entry(failed, { reason: 'rollback' }))).toMatch(/^rollback to 0123456789 "Fix the footer" reached no target: /);
  });

  it('a rollout a check stopped says where and why', () => {
    const failed = [outcome({ name: 'web1', status: 'failed' }), outcome({ name: 'web2', status: 'failed' })];
    const rollout = { waves: [['web1'], ['web2']], checks: [], stopped: { wave: 0, target: 'web1', detail: 'HTTP 404 (expected 200)' } };
    expect(summaryLine(entry(failed, { rollout }))).toBe('the rollout of 0123456789 "Fix the footer" stopped at web1 (HTTP 404 (expected 200)) in 1.5s; FAILED: web1, web2');
  });

  it('says "would deploy" for a dry run', () => {
    expect(summaryLine(entry([outcome({})], { dryRun: true }))).toMatch(/^would deploy 0123456789 /);
  });

  it('says "rolled back to" for a rollback', () => {
    expect(summaryLine(entry([outcome({})], { reason: 'rollback' }))).toMatch(/^rolled back to 0123456789 ".*" on 1\/1 targets/);
  });

  it("a push's says who pushed, and why when the push said", () => {
    expect(summaryLine(entry([outcome({})], { reason: 'push', user: 'alice' }))).toBe('deployed 0123456789 "Fix the footer" to 1/1 targets in 1.5s; pushed by alice');
    const failed = [outcome({ name: 'web1' }), outcome({ name: 'web2', status: 'failed' })];
    expect(summaryLine(entry(failed, { reason: 'push', user: 'alice', message: 'new footer' }))).toBe('deployed 0123456789 "Fix the footer" to 1/2 targets in 1.5s; FAILED: web2; pushed by alice: "new footer"');
    // not for other deploys, nor for a push recorded before fanout knew who pushed
    expect(summaryLine(entry([outcome({})], { reason: 'manual', user: 'alice' }))).not.toContain('alice');
    expect(summaryLine(entry([outcome({})], { reason: 'push' }))).not.toContain('pushed by');
  });

  it('shows minutes for a long deploy', () => {
    expect(summaryLine(entry([outcome({})], { finishedAt: '2025-01-01T10:02:05.000Z' }))).toContain('in 2m5s');
  });
});

describe('table', () => {
  it('aligns columns by visible width, ignoring colour codes', () => {
    const out = table(
      ['TARGET', 'STATUS', 'COMMIT'],
      [
        ['web1', paint(true, 32, 'ok'), 'abc'],
        ['longer-web2', 'behind', 'def'],
      ],
    );
    expect(out).toContain('\u001b[32mok\u001b[0m');
    const plain = out.replaceAll('\u001b[32m', '').replaceAll('\u001b[0m', '');
    expect(plain).toBe('TARGET       STATUS  COMMIT\nweb1         ok      abc\nlonger-web2  behind  def\n');
  });

  it('trims trailing spaces of a short last cell', () => {
    expect(table(['A', 'B'], [['x', '']])).toBe('A  B\nx\n');
  });
});

describe('statusWord', () => {
  it('colours good, behind and bad words apart, and not at all without colour', () => {
    expect(statusWord('ok', true)).toBe('\u001b[32mok\u001b[0m');
    expect(statusWord('behind', true)).toBe('\u001b[33mbehind\u001b[0m');
    expect(statusWord('failed', true)).toBe('\u001b[31mfailed\u001b[0m');
    expect(statusWord('failed', false)).toBe('failed');
  });
});

describe('itemLines', () => {
  it('lists each item indented', () => {
    expect(itemLines(['>f+++++++++ a', '*deleting   b'], '    ')).toBe('    >f+++++++++ a\n    *deleting   b\n');
    expect(itemLines([], '  ')).toBe('');
  });

  it('shows the first 50 and says how many more there are', () => {
    const items = Array.from({ length: 53 }, (_, i) => `>f+++++++++ file${i}`);
    const lines = itemLines(items, '').split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(51);
    expect(lines[49]).toBe('>f+++++++++ file49');
    expect(lines[50]).toBe('... and 3 more (--json lists them all)');
  });
});

describe('a build line', () => {
  it('in a pipe (the pusher\'s remote: lines), each line as it comes; --json, none', () => {
    const written: string[] = [];
    const reporter = humanReporter({ write: (t) => written.push(t), color: false }, 5, '', false);
    reporter.buildLine('page 1 of 2');
    reporter.note('done');
    expect(written).toEqual(['build: page 1 of 2\n', 'done\n']);
    const json: string[] = [];
    const quiet = jsonReporter({ write: (t) => json.push(t), color: false });
    quiet.buildLine('page 1 of 2');
    quiet.finish();
    expect(json.join('')).not.toContain('page 1 of 2');
  });
});
