import { describe, expect, it } from 'vitest';
import { limitReachedAtStart, lostWatch, raiseLimitAdvice, watchBudgetWarning, watchLimit } from '../../../src/watch/inotify.js';

describe('watchLimit', () => {
  it('is the lower of the system-wide and the user namespace limits', () => {
    const files: Record<string, string> = { '/proc/sys/fs/inotify/max_user_watches': '524288\n', '/proc/sys/user/max_inotify_watches': '1000\n' };
    expect(watchLimit((f) => files[f])).toBe(1000);
    expect(watchLimit((f) => (f.includes('fs/inotify') ? '8192\n' : undefined))).toBe(8192);
    expect(watchLimit(() => undefined)).toBeUndefined();
    expect(watchLimit(() => 'garbage')).toBeUndefined();
  });
});

describe('watchBudgetWarning', () => {
  it('warns past 80% of the watches, naming the count, the share and the sysctl', () => {
    expect(watchBudgetWarning(80, 100)).toBeUndefined();
    expect(watchBudgetWarning(81, 100)).toMatch(/^the source has 81 directories, 81% of the 100 inotify watches this user may have; .*sysctl fs\.inotify\.max_user_watches=65536/);
    expect(watchBudgetWarning(100_000, 120_000)).toContain('sysctl fs.inotify.max_user_watches=200000');
    expect(watchBudgetWarning(10, undefined)).toBeUndefined();
  });

  it('advises a limit of at least 65536, and twice the directories', () => {
    expect(raiseLimitAdvice(8192)).toMatch(/\(now 8192\): sysctl fs\.inotify\.max_user_watches=65536,/);
  });
});

describe("inotifywait's own words", () => {
  it('a new directory it could not watch', () => {
    expect(lostWatch("Couldn't watch new directory /srv/www/d2/: No space left on device")).toBe('/srv/www/d2/');
    expect(lostWatch('Watches established.')).toBeUndefined();
  });

  it('a start that hit the limit', () => {
    expect(limitReachedAtStart('Failed to watch /srv/www; upper limit on inotify watches reached!\n')).toBe(true);
    expect(limitReachedAtStart("Couldn't watch /srv/www: No such file or directory\n")).toBe(false);
  });
});
