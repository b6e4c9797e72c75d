import { describe, expect, it } from 'vitest';
import type { Commit } from '../../../../src/base/git.js';
import { statusText } from '../../../../src/cli/commands/status.js';
import type { StatusFacts } from '../../../../src/observe/status-facts.js';
import type { State } from '../../../../src/engine/journal.js';
import { farmStatus } from '../../../../src/observe/status.js';

const A = 'a'.repeat(40) as Commit;
const B = 'b'.repeat(40) as Commit;
const NOW = Date.parse('2026-01-01T01:00:00Z');
const config = { branch: 'main', source: '/data/www', stateDir: '/srv/git/site.git/fanout' };

function state(changes: Partial<State> = {}): State {
  return {
    version: 1,
    nextDeployId: 3,
    current: { commit: B, deployId: 2, at: '2026-01-01T00:59:00Z' },
    source: { commit: B, attempted: [] },
    targets: {
      web1: { commit: B, at: '2026-01-01T00:59:00Z', status: 'ok', attempted: [] },
      web2: { commit: A, at: '2026-01-01T00:30:00Z', status: 'failed', error: 'cannot connect', attempted: [] },
    },
    ...changes,
  };
}

function facts(s: State, tip: Commit, more: Partial<StatusFacts> = {}): StatusFacts {
  return {
    status: farmStatus(['web1', 'web2'], s, tip, undefined),
    subjects: new Map([
      [A, 'first page'],
      [B, 'a subject long enough that the table cuts it to forty characters'],
    ]),
    watchState: undefined,
    state: s,
    autoRollback: undefined,
    currentBuild: undefined,
    ...more,
  };
}

describe('fanout status, for a terminal', () => {
  it('the current deploy, then a row per target, subjects cut to their column', () => {
    const lines = statusText(facts(state(), B), config, false, NOW).split('\n');
    expect(lines[0]).toBe(`current deploy: ${B.slice(0, 10)} "a subject long enough that the table cuts it to forty characters" (deploy #2, 2026-01-01 00:59:00 (1m0s ago))`);
    expect(lines[1]).toBe('');
    expect(lines[2]).toMatch(/^TARGET +STATE +COMMIT +SUBJECT +SINCE +DETAIL$/);
    expect(lines[3]).toMatch(new RegExp(`^web1 +ok +${B.slice(0, 10)} +a subject long enough that the table cu… +2026-01-01 00:59:00 \\(1m0s ago\\)$`));
    expect(lines[4]).toMatch(new RegExp(`^web2 +failed +${A.slice(0, 10)} +first page +2026-01-01 00:30:00 \\(30m0s ago\\) +cannot connect$`));
    expect(lines.slice(5)).toEqual(['']);
  });

  it('who made the current deploy, and why when they said', () => {
    const lines = statusText(facts(state(), B, { currentBy: { startedBy: 'git push by alice (git)', user: 'alice', message: 'new footer' } }), config, false, NOW).split('\n');
    expect(lines[0]).toBe(`current deploy: ${B.slice(0, 10)} "a subject long enough that the table cuts it to forty characters" (deploy #2, git push by alice (git), 2026-01-01 00:59:00 (1m0s ago))`);
    expect(lines[1]).toBe('  message: "new footer"');
  });

  it('says when nothing was deployed yet, and a branch tip not deployed', () => {
    const text = statusText(facts(state({ current: null, targets: {} }), A), config, false, NOW);
    expect(text).toContain('current deploy: none yet (git push, or fanout deploy)\n');
    expect(text).toContain(`branch main is at ${A.slice(0, 10)} "first page", not deployed: no deploy of it has finished (fanout deploy)\n`);
    expect(text).toMatch(/\nweb1 +unknown +- +- +-\n/);
  });

  it('the build behind the current deploy, a failed checkout and an automatic rollback, before the table', () => {
    const s = state({ source: { commit: B, attempted: [], error: 'disk full' } });
    const text = statusText(
      facts(s, B, {
        currentBuild: { source: A, reused: false, durationMs: 4200 },
        autoRollback: { deployId: 3, commit: A, target: 'web1', detail: 'HTTP 500', back: B },
      }),
      config,
      false,
      NOW,
    );
    const head = text.slice(0, text.indexOf('\n\n')).split('\n');
    expect(head.slice(1)).toEqual([
      `built from ${A.slice(0, 10)} in 4.2s; its log: /srv/git/site.git/fanout/builds/${A}.log`,
      'failed: the last deploy could not check its commit out into /data/www: disk full',
      `rolled back automatically: deploy #3 of ${A.slice(0, 10)} failed its check on web1 (HTTP 500); the farm went back to ${B.slice(0, 10)}`,
    ]);
  });

  it("ends with watch's line when watch ever ran", () => {
    const f = facts(state(), B);
    const text = statusText({ ...f, status: { ...f.status, watch: { line: 'watch: watching since ...', failing: false } } }, config, false, NOW);
    expect(text.endsWith('\n\nwatch: watching since ...\n')).toBe(true);
  });
});
