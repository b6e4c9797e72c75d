import { describe, expect, it } from 'vitest';
import { watchStatusLine, type WatchState } from '../../../src/watch/watcher-state.js';
import { when } from '../../../src/cli/print.js';

// the pid of this test, alive; and one no process has
const ALIVE = process.pid;
const GONE = 2 ** 22 + 1;
const SINCE = '2026-11-24T05:22:08.500Z';
const NOW = Date.parse('2026-11-24T05:23:38.500Z');
const time = (iso: string): string => when(iso, NOW);

function line(state: WatchState['state'], pid: number): string | undefined {
  return watchStatusLine({ pid, state, since: SINCE, message: 'why' }, time)?.line;
}

describe("watch's line in fanout status", () => {
  it('writes its time as the rest of status does: date, time and how long ago', () => {
    expect(line('watching', ALIVE)).toBe(`watch: watching since 2026-11-24 05:22:08 (1m30s ago) (pid ${ALIVE})`);
    expect(line('watching', GONE)).toBe(`watch: not running (pid ${GONE} ended without stopping; was watching since 2026-11-24 05:22:08 (1m30s ago))`);
    expect(line('degraded', ALIVE)).toBe('watch: DEGRADED since 2026-11-24 05:22:08 (1m30s ago): why');
    expect(line('failing', ALIVE)).toBe('watch: FAILING since 2026-11-24 05:22:08 (1m30s ago): why');
    expect(line('failed', GONE)).toBe('watch: not running (it failed at 2026-11-24 05:22:08 (1m30s ago): why)');
    expect(line('stopped', GONE)).toBe('watch: stopped at 2026-11-24 05:22:08 (1m30s ago)');
    expect(line('stopped', GONE)).not.toContain('T05:22');
  });

  it('says nothing when watch never ran', () => {
    expect(watchStatusLine(undefined, time)).toBeUndefined();
  });
});
