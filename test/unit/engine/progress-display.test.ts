import { describe, expect, it } from 'vitest';
import { ProgressFeed } from '../../../src/engine/progress-display.js';
import type { Progress } from '../../../src/engine/progress.js';
import { HandClock } from '../hand-clock.js';

function feedWithBeats(everyMs = 1000): { feed: ProgressFeed; clock: HandClock; beats: [number, Progress][] } {
  const clock = new HandClock();
  const beats: [number, Progress][] = [];
  const feed = new ProgressFeed(clock, everyMs, (progress, now) => beats.push([now, progress]));
  return { feed, clock, beats };
}

describe('ProgressFeed', () => {
  it('beats every period from the first phase on, and not once the deploy is over', async () => {
    const { feed, clock, beats } = feedWithBeats();
    await clock.advance(5000);
    expect(beats).toEqual([]);
    feed.update({ kind: 'phase', name: 'checkout' });
    await clock.advance(8500);
    expect(beats.map(([at]) => at)).toEqual([6000, 7000, 8000]);
    feed.update({ kind: 'idle' });
    expect(clock.due).toEqual([]);
  });

  it('restarts the period when told (a line was just printed), and a stopped feed beats again at the next phase', async () => {
    const { feed, clock, beats } = feedWithBeats();
    feed.update({ kind: 'phase', name: 'checkout' });
    await clock.advance(900);
    feed.restart();
    await clock.advance(1899);
    expect(beats).toEqual([]);
    await clock.advance(1900);
    expect(beats.map(([at]) => at)).toEqual([1900]);
    feed.stop();
    expect(clock.due).toEqual([]);
    feed.update({ kind: 'phase', name: 'transfer' });
    expect(clock.due).toEqual([2900]);
  });

  it('takes each target\'s counts as they come, and reads the last of them when shown, or before the target finishes', () => {
    const { feed } = feedWithBeats();
    feed.update({ kind: 'totals', totals: new Map([['web1', undefined]]) });
    feed.update({ kind: 'phase', name: 'transfer', targets: ['web1', 'web2'] });
    for (let files = 1; files <= 1000; files += 1) feed.update({ kind: 'sent', target: 'web1', sent: { files, bytes: files * 10 } });
    feed.update({ kind: 'sent', target: 'web2', sent: { files: 3, bytes: 30 } });
    feed.update({ kind: 'finished', target: 'web1', ok: true });
    feed.update({ kind: 'sent', target: 'web2', sent: { files: 4, bytes: 40 } });
    expect(feed.progress.targets).toEqual([
      { name: 'web1', sent: { files: 1000, bytes: 10_000 }, state: 'ok' },
      { name: 'web2', sent: { files: 4, bytes: 40 }, state: 'left' },
    ]);
  });
});
