import { describe, expect, it } from 'vitest';
import type { Commit } from '../../../../src/base/git.js';
import { deployText, findDeploy, historyText } from '../../../../src/cli/commands/history.js';
import { FanoutError } from '../../../../src/base/errors.js';
import type { HistoryEntry, TargetOutcome } from '../../../../src/engine/journal.js';

const A = 'a'.repeat(40) as Commit;
const B = 'b'.repeat(40) as Commit;
const NOW = Date.parse('2026-01-01T02:00:00Z');

const WHY = 'rsync: cannot connect to 127.0.0.33::site (connection refused): is its daemon running? (exit 10)';

function outcome(name: string, status: TargetOutcome['status'], durationMs: number): TargetOutcome {
  return { name, status, mode: 'paths', from: A, sent: 1, deleted: 0, bytes: 10, durationMs, attempts: 1, ...(status === 'failed' ? { error: WHY } : {}) };
}

function entry(id: number, more: Partial<HistoryEntry> = {}): HistoryEntry {
  return { id, startedAt: '2026-01-01T01:00:00Z', finishedAt: '2026-01-01T01:00:02.5Z', commit: B, subject: 's', reason: 'push', startedBy: 'git push (git)', targets: [outcome('web1', 'ok', 1200), outcome('web2', 'failed', 300)], ...more };
}

describe('fanout history, for a terminal', () => {
  it('says so when there is nothing yet', () => {
    expect(historyText([], false, NOW)).toBe('no deploys yet\n');
  });

  it('a row per deploy, in the order given: when, the commit, why, who, how long, each target', () => {
    const [header, row, why, ...rest] = historyText([entry(7)], false, NOW).split('\n');
    expect(header).toMatch(/^ID +WHEN +COMMIT +REASON +BY +TOOK +TARGETS$/);
    expect(row).toMatch(new RegExp(`^7 +2026-01-01 01:00:00 \\(60m0s ago\\) +${B.slice(0, 10)} +push +git push \\(git\\) +2.5s +web1 ok 1.2s, web2 failed 0.30s$`));
    // the failed target's reason, the line its push printed, indented under the row
    expect(why).toBe(`    web2: ${WHY}`);
    expect(rest).toEqual(['']);
  });

  it('a build names its source commit; a slot switch and a deploy that failed before any target say so', () => {
    const text = historyText(
      [
        entry(3, { build: { source: A, reused: false, durationMs: 61_000 }, switch: { at: 'x', skewMs: 12, switched: 2, held: [] } }),
        entry(2, { build: { source: A, reused: true, durationMs: 0 } }),
        entry(1, { error: 'the checkout failed', targets: [] }),
      ],
      false,
      NOW,
    );
    expect(text).toContain(`${B.slice(0, 10)} (build of ${A.slice(0, 10)}, 1m1s)`);
    expect(text).toContain(`web1 ok 1.2s, web2 failed 0.30s; switched 2 within 12 ms\n    web2: ${WHY}\n`);
    expect(text).toContain(`${B.slice(0, 10)} (build of ${A.slice(0, 10)}, reused)`);
    expect(text).toMatch(/ failed before any target\n {4}failed: the checkout failed\n$/);
    expect(
      text
        .split('\n')
        .filter((l) => !l.startsWith(' '))
        .slice(1, 4)
        .map((l) => l.split(' ')[0]),
    ).toEqual(['3', '2', '1']);
  });

  it('a refused push: refused, and the line its pusher saw under it; a stopped rollout says where', () => {
    const text = historyText(
      [
        entry(9, { refused: 'config /srv/fanout.yaml: targets[0].dest: expected a dest', targets: [] }),
        entry(8, { rollout: { waves: [['web1'], ['web2']], checks: [], stopped: { wave: 0, target: 'web1', detail: 'HTTP 500' } }, targets: [{ ...outcome('web1', 'failed', 100), error: 'check failed: HTTP 500' }] }),
      ],
      false,
      NOW,
    );
    expect(text).toMatch(/^9 .* push +git push \(git\) +2\.5s +refused\n {4}refused: config \/srv\/fanout\.yaml: targets\[0\]\.dest: expected a dest\n8 /m);
    expect(text).toContain('web1 failed 0.10s\n    rollout stopped at web1 in wave 1: HTTP 500\n    web1: check failed: HTTP 500\n');
  });
});

describe('fanout history ID: one deploy, whole', () => {
  it('finds the entry by its id (#12 too); an unknown or malformed id is one line, exit 2', () => {
    const history = [entry(11), entry(12)];
    expect(findDeploy(history, '12').id).toBe(12);
    expect(findDeploy(history, '#11').id).toBe(11);
    const unknown = (() => {
      try {
        findDeploy(history, '13');
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(unknown).toBeInstanceOf(FanoutError);
    expect((unknown as FanoutError).exitCode).toBe(2);
    expect((unknown as FanoutError).message).toBe('no deploy #13 in the history (the last is #12); fanout history lists them');
    expect(() => findDeploy([], '1')).toThrow('no deploy #1 in the history (there is none yet); fanout history lists them');
    expect(() => findDeploy(history, 'abc')).toThrow(/^"abc" is not a deploy id/);
    expect(() => findDeploy(history, '0')).toThrow(/^"0" is not a deploy id/);
  });

  it('who, when, what, the outcome and why; each target with its pass, files, bytes, attempts, time and slot', () => {
    const text = deployText(entry(7, { build: { source: A, reused: false, durationMs: 61_000 }, targets: [{ ...outcome('web1', 'ok', 1200), sent: 12, deleted: 2, bytes: 20_480, slot: '2', switchedAt: 'x' }, { ...outcome('web2', 'failed', 300), attempts: 3 }] }), false, NOW);
    const lines = text.split('\n');
    expect(lines.slice(0, 7)).toEqual([
      'deploy #7',
      '  outcome   partial',
      '  by        git push (git)',
      '  reason    push',
      `  commit    ${B.slice(0, 10)} (build of ${A.slice(0, 10)}, 1m1s) "s"`,
      '  started   2026-01-01 01:00:00 (60m0s ago)',
      '  finished  2026-01-01 01:00:02 (59m58s ago), took 2.5s',
    ]);
    expect(text).toContain(`\nwhy:\n  web2: ${WHY}\n`);
    expect(text).toMatch(/\nTARGET +OUTCOME +PASS +SENT +DELETED +BYTES +ATTEMPTS +TOOK +SLOT\n/);
    expect(text).toMatch(/\nweb1 +ok +changed paths +12 +2 +20 kB +1 +1\.2s +2 \(live\)\n/);
    expect(text).toMatch(/\nweb2 +failed +changed paths +1 +0 +10 B +3 +0\.30s +-\n/);
  });

  it("a push's message, when it gave one, under the commit", () => {
    const lines = deployText(entry(9, { message: 'hotfix for the login page', targets: [outcome('web1', 'ok', 100)] }), false, NOW).split('\n');
    expect(lines.slice(4, 6)).toEqual([`  commit    ${B.slice(0, 10)} "s"`, '  message   hotfix for the login page']);
    expect(deployText(entry(10, { targets: [outcome('web1', 'ok', 100)] }), false, NOW)).not.toContain('message');
  });

  it('the rollout: each wave with its checks, where it stopped; the switch and its skew; a refusal alone', () => {
    const checks = [
      { target: 'web1', wave: 0, ok: true, detail: 'HTTP 200', attempts: 1, durationMs: 40, at: 'x' },
      { target: 'web2', wave: 1, ok: false, detail: 'HTTP 500', attempts: 3, durationMs: 2100, at: 'x' },
    ];
    const text = deployText(entry(8, { rollout: { waves: [['web1'], ['web2']], checks, stopped: { wave: 1, target: 'web2', detail: 'HTTP 500' } }, switch: { at: '2026-01-01T01:00:01.000Z', skewMs: 12, switched: 1, held: ['web2'] } }), false, NOW);
    expect(text).toContain('  outcome   failed\n');
    expect(text).toContain('rollout:\n  wave 1: web1\n    check web1: ok (HTTP 200; 1 try, 0.04s)\n  wave 2: web2\n    check web2: FAILED (HTTP 500; 3 tries, 2.1s)\n  stopped in wave 2 at web2: HTTP 500\n');
    expect(text).toContain('switch: 1 target switched within 12 ms of each other, from 2026-01-01T01:00:01.000Z; held back: web2\n');
    const lagged = entry(10, { switch: { at: '2026-01-01T01:00:01.000Z', skewMs: 3, switched: 1, held: [], lagging: ['web2'] } });
    expect(deployText(lagged, false, NOW)).toContain('switch: 1 target switched within 3 ms of each other, from 2026-01-01T01:00:01.000Z; lagging (not switched, serving their old release until fanout sync catches them up): web2\n');
    expect(historyText([lagged], false, NOW)).toContain('; switched 1 within 3 ms, lagging: web2\n');
    const refused = deployText(entry(9, { refused: 'commit bbbbbbbbbb has no files', targets: [] }), false, NOW);
    expect(refused).toContain('  outcome   refused\n');
    expect(refused).toMatch(/\nwhy:\n {2}refused: commit bbbbbbbbbb has no files\n$/);
    expect(refused).not.toContain('TARGET');
  });
});
