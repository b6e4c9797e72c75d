import { describe, expect, it } from 'vitest';
import type { Commit } from '../../../src/base/git.js';
import type { HistoryEntry, TargetOutcome } from '../../../src/engine/journal.js';
import { humanReporter, itemLines, jsonReporter, paint, shortCommit, statusWord, summaryLine, table, targetLine, type Reporter } from '../../../src/engine/report.js';
import { HandClock } from '../hand-clock.js';

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
    const reporter = humanReporter({ write: (t) => written.push(t), color: false }, 5, { live: false, err: () => undefined });
    reporter.buildLine('page 1 of 2');
    reporter.note('done');
    expect(written).toEqual(['build: page 1 of 2\n', 'done\n']);
    const json: string[] = [];
    const quiet = jsonReporter({ write: (t) => json.push(t), color: false }, { err: () => undefined });
    quiet.buildLine('page 1 of 2');
    quiet.finish();
    expect(json.join('')).not.toContain('page 1 of 2');
  });
});

/** A reporter whose stdout and stderr are arrays, its time a HandClock. */
function reporterWith(make: (out: { write: (t: string) => void; color: boolean }, err: (t: string) => void, ticker: HandClock) => Reporter): { reporter: Reporter; out: string[]; err: string[]; ticker: HandClock } {
  const out: string[] = [];
  const err: string[] = [];
  const ticker = new HandClock();
  const reporter = make({ write: (t) => out.push(t), color: false }, (t) => err.push(t), ticker);
  return { reporter, out, err, ticker };
}

const TOTALS = { kind: 'totals', totals: new Map([['web1', { files: 100, bytes: 1_000_000 }], ['web2', { files: 100, bytes: 1_000_000 }]]) } as const;

describe('progress in a pipe (the pusher\'s remote: lines)', () => {
  const pipe = (): ReturnType<typeof reporterWith> => reporterWith((out, err, ticker) => humanReporter(out, 4, { live: false, err, ticker, prefix: '> ' }));

  it('a line as each phase begins, then the progress line every 2 s while it runs, counts moved or not', async () => {
    const { reporter, err, ticker } = pipe();
    reporter.progress({ kind: 'phase', name: 'checkout', detail: '1a2b3c4d5e, 200 paths' });
    expect(err).toEqual(['> checkout: 1a2b3c4d5e, 200 paths\n']);
    await ticker.advance(2500);
    expect(err.at(-1)).toBe('> checkout: 1a2b3c4d5e, 200 paths; 2.0s\n');
    reporter.progress(TOTALS);
    reporter.progress({ kind: 'phase', name: 'transfer', targets: ['web1', 'web2'] });
    expect(err.at(-1)).toBe('> transfer: 2 targets, 200 files (2.0 MB) to send\n');
    reporter.progress({ kind: 'sent', target: 'web1', sent: { files: 50, bytes: 500_000 } });
    // the beat counts from the phase's line, not from the checkout's beat
    await ticker.advance(4400);
    expect(err).toHaveLength(3);
    await ticker.advance(4500);
    expect(err.at(-1)).toBe('> transfer: 25% (ok 0, failed 0, left 2; 50/200 files, 500 kB/2.0 MB; 2.0s, about 6s left)\n');
    // one large file: nothing moved, the line comes all the same
    await ticker.advance(6500);
    expect(err.at(-1)).toBe('> transfer: 25% (ok 0, failed 0, left 2; 50/200 files, 500 kB/2.0 MB; 4.0s, about 12s left)\n');
    expect(err).toHaveLength(5);
  });

  it('keeps the report on stdout, as it was; nothing beats once the deploy is done', async () => {
    const { reporter, out, err, ticker } = pipe();
    reporter.progress(TOTALS);
    reporter.progress({ kind: 'phase', name: 'transfer', targets: ['web1'] });
    reporter.targetDone({ name: 'web1', status: 'ok', mode: 'paths', from: null, sent: 100, deleted: 0, bytes: 1_000_000, durationMs: 1500, attempts: 1 });
    reporter.deployDone(entry([outcome({ sent: 100 })]));
    expect(ticker.due).toEqual([]);
    await ticker.advance(60_000);
    expect(out).toEqual(['>   web1  ok      100 sent (1.0 MB), 0 deleted  1.5s\n', '> deployed 0123456789 "Fix the footer" to 1/1 targets in 1.5s\n']);
    expect(err).toEqual(['> transfer: 1 target, 100 files (1.0 MB) to send\n']);
  });

  it('a quiet phase has no line of its own, only the beat; the end of the deploy stops it', async () => {
    const { reporter, err, ticker } = pipe();
    reporter.progress({ kind: 'phase', name: 'waiting for the lock', detail: 'pid 42, push by git push by alice, since 2026-12-02T12:00:00.000Z', quiet: true });
    expect(err).toEqual([]);
    await ticker.advance(2000);
    expect(err).toEqual(['> waiting for the lock: pid 42, push by git push by alice, since 2026-12-02T12:00:00.000Z; 2.0s\n']);
    reporter.progress({ kind: 'idle' });
    expect(ticker.due).toEqual([]);
  });

  it('starts beating again for a deploy that follows (an automatic rollback)', async () => {
    const { reporter, err, ticker } = pipe();
    reporter.progress({ kind: 'phase', name: 'checks', detail: 'web1' });
    reporter.deployDone(entry([outcome({})]));
    reporter.progress({ kind: 'phase', name: 'switch' });
    await ticker.advance(2000);
    expect(err.at(-1)).toBe('> switch: 2.0s\n');
    reporter.finish();
    expect(ticker.due).toEqual([]);
  });
});

describe('progress on a terminal', () => {
  const terminal = (columns = 200): ReturnType<typeof reporterWith> => reporterWith((out, err, ticker) => humanReporter(out, 4, { live: true, err, ticker, columns: () => columns }));

  it('draws nothing in the first second, then one line in place, redrawn every second so that its time moves', async () => {
    const { reporter, err, ticker } = terminal();
    reporter.progress({ kind: 'phase', name: 'checkout', detail: '1a2b3c4d5e, all paths' });
    expect(err).toEqual([]);
    await ticker.advance(1000);
    expect(err).toEqual(['\r\u001b[K  checkout: 1a2b3c4d5e, all paths; 1.0s']);
    await ticker.advance(2000);
    expect(err.at(-1)).toBe('\r\u001b[K  checkout: 1a2b3c4d5e, all paths; 2.0s');
  });

  it('redraws at most every 200 ms as counts come, and at once for a new phase', async () => {
    const { reporter, err, ticker } = terminal();
    await ticker.advance(5000);
    reporter.progress(TOTALS);
    reporter.progress({ kind: 'phase', name: 'transfer', targets: ['web1'] });
    const drawn = err.length;
    for (let files = 1; files <= 10; files += 1) {
      ticker.t += 30;
      reporter.progress({ kind: 'sent', target: 'web1', sent: { files, bytes: files * 10_000 } });
    }
    expect(err.length - drawn).toBe(1);
    expect(err.at(-1)).toBe('\r\u001b[K  transfer: 7% (ok 0, failed 0, left 1; 7/100 files, 70 kB/1.0 MB; 0.21s)');
  });

  it('erases the line before a line of the report, and for good at the end', async () => {
    const { reporter, out, err, ticker } = terminal();
    reporter.progress({ kind: 'phase', name: 'checkout' });
    await ticker.advance(1500);
    reporter.note('a note');
    expect(err.at(-1)).toBe('\r\u001b[K');
    expect(out).toEqual(['a note\n']);
    reporter.progress({ kind: 'idle' });
    expect(ticker.due).toEqual([]);
  });

  it('cuts the line to the terminal\'s width: a line that wraps cannot be rewritten', async () => {
    const { reporter, err, ticker } = terminal(40);
    reporter.progress({ kind: 'phase', name: 'checkout', detail: 'x'.repeat(100) });
    await ticker.advance(1000);
    const line = (err.at(-1) ?? '').replace('\r\u001b[K  ', '');
    expect(line).toHaveLength(37);
    expect(line.endsWith('…')).toBe(true);
  });

  it('a build\'s output takes the line while it comes', async () => {
    const { reporter, err, ticker } = terminal();
    reporter.progress({ kind: 'phase', name: 'build', quiet: true });
    await ticker.advance(1500);
    reporter.buildLine('page 1 of 2');
    expect(err.at(-1)).toBe('\r\u001b[K  build: page 1 of 2');
    await ticker.advance(2000);
    expect(err.at(-1)).toBe('\r\u001b[K  build: page 1 of 2');
    await ticker.advance(3000);
    expect(err.at(-1)).toBe('\r\u001b[K  build: 3.0s');
  });
});

describe('progress with --json', () => {
  it('events on stderr, a JSON object a line; stdout keeps its one document', async () => {
    const { reporter, out, err, ticker } = reporterWith((o, e, t) => jsonReporter(o, { err: e, ticker: t }));
    reporter.progress(TOTALS);
    reporter.progress({ kind: 'phase', name: 'plan', quiet: true });
    reporter.progress({ kind: 'phase', name: 'transfer', targets: ['web1', 'web2'] });
    reporter.progress({ kind: 'sent', target: 'web2', sent: { files: 10, bytes: 100_000 } });
    await ticker.advance(2000);
    reporter.deployDone(entry([outcome({})]));
    await ticker.advance(10_000);
    reporter.finish();
    const events = err.map((line) => {
      expect(line.endsWith('\n')).toBe(true);
      return JSON.parse(line) as Record<string, unknown>;
    });
    expect(events.map((e) => [e.event, e.phase])).toEqual([
      ['phase', 'plan'],
      ['phase', 'transfer'],
      ['progress', 'transfer'],
    ]);
    expect(events[2]).toMatchObject({ percent: 5, done: { files: 10, bytes: 100_000 }, total: { files: 200, bytes: 2_000_000 } });
    expect(JSON.parse(out.join(''))).toMatchObject({ ok: true, notes: [] });
  });
});
