import { describe, expect, it } from 'vitest';
import { parseLockFile } from '../../src/lock.js';

describe('parseLockFile', () => {
  it('reads the holder and the process groups it marked', () => {
    const text = 'pid 42, push by git, since 2026-12-02T12:00:00.000Z\n{"pgid":100,"start":5,"boot":"b"}\n{"pgid":101,"start":6,"boot":"b"}\n';
    expect(parseLockFile(text)).toEqual({
      holder: 'pid 42, push by git, since 2026-12-02T12:00:00.000Z',
      groups: [
        { pgid: 100, start: 5, boot: 'b' },
        { pgid: 101, start: 6, boot: 'b' },
      ],
    });
  });

  it('skips a line cut short, a tail of an older write and anything that is no mark', () => {
    const text = 'pid 42, push by git\n{"pgid":100,"start":5,"boot":"b"}\n{"pgid":1\n{"pgid":"7","start":1,"boot":"b"}\nnull\n{"start":1,"boot":"b"}\n';
    expect(parseLockFile(text).groups).toEqual([{ pgid: 100, start: 5, boot: 'b' }]);
  });

  it('a lock released (empty file) names no holder and no groups', () => {
    expect(parseLockFile('')).toEqual({ holder: 'unknown holder', groups: [] });
  });
});
