import { describe, expect, it } from 'vitest';
import type { Commit } from '../../../../src/base/git.js';
import { historyText } from '../../../../src/cli/commands/history.js';
import type { HistoryEntry, TargetOutcome } from '../../../../src/engine/journal.js';

const A = 'a'.repeat(40) as Commit;
const B = 'b'.repeat(40) as Commit;
const NOW = Date.parse('2026-01-01T02:00:00Z');

function outcome(name: string, status: TargetOutcome['status'], durationMs: number): TargetOutcome {
  return { name, status, mode: 'paths', from: A, sent: 1, deleted: 0, bytes: 10, durationMs, attempts: 1 };
}

function entry(id: number, more: Partial<HistoryEntry> = {}): HistoryEntry {
  return { id, startedAt: '2026-01-01T01:00:00Z', finishedAt: '2026-01-01T01:00:02.5Z', commit: B, subject: 's', reason: 'push', startedBy: 'git push (git)', targets: [outcome('web1', 'ok', 1200), outcome('web2', 'failed', 300)], ...more };
}

describe('fanout history, for a terminal', () => {
  it('says so when there is nothing yet', () => {
    expect(historyText([], false, NOW)).toBe('no deploys yet\n');
  });

  it('a row per deploy, in the order given: when, the commit, why, who, how long, each target', () => {
    const [header, row, ...rest] = historyText([entry(7)], false, NOW).split('\n');
    expect(header).toMatch(/^ID +WHEN +COMMIT +REASON +BY +TOOK +TARGETS$/);
    expect(row).toMatch(new RegExp(`^7 +2026-01-01 01:00:00 \\(60m0s ago\\) +${B.slice(0, 10)} +push +git push \\(git\\) +2.5s +web1 ok 1.2s, web2 failed 0.30s$`));
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
    expect(text).toContain('web1 ok 1.2s, web2 failed 0.30s; switched 2 within 12 ms\n');
    expect(text).toContain(`${B.slice(0, 10)} (build of ${A.slice(0, 10)}, reused)`);
    expect(text).toMatch(/failed the checkout failed\n$/);
    expect(text.split('\n').slice(1, 4).map((l) => l.split(' ')[0])).toEqual(['3', '2', '1']);
  });
});
