import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeFreeze, frozenRefusal, readFreeze, removeFreeze, writeFreeze } from '../../../src/engine/freeze.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-freeze-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('the deploy lock on disk', () => {
  it('is absent until written, read back as written, and gone once removed', () => {
    expect(readFreeze(dir)).toBeUndefined();
    const freeze = { by: 'alice (git)', reason: 'incident 42', since: '2026-12-06T10:00:00.000Z' };
    writeFreeze(dir, freeze);
    expect(readFreeze(dir)).toEqual(freeze);
    expect(removeFreeze(dir)).toBe(true);
    expect(readFreeze(dir)).toBeUndefined();
    expect(removeFreeze(dir)).toBe(false);
  });

  it('a file that is not valid JSON still locks: refusing is the safe reading', () => {
    fs.writeFileSync(path.join(dir, 'deploy-lock.json'), '{"by": "ali');
    expect(readFreeze(dir)).toMatchObject({ by: 'unknown', reason: expect.stringMatching(/not valid JSON \(fanout unlock removes it\)/) as unknown });
  });
});

describe('describeFreeze and the refusal', () => {
  it('say who, since when (UTC) and why, and how to go through', () => {
    const freeze = { by: 'alice (git)', reason: 'incident 42', since: '2026-12-06T10:00:00.000Z' };
    expect(describeFreeze(freeze)).toBe('locked by alice (git) since 2026-12-06 10:00:00 UTC: incident 42');
    const refusal = frozenRefusal(freeze, '0123456789');
    expect(refusal.exitCode).toBe(1);
    expect(refusal.message).toBe('deploys are locked by alice (git) since 2026-12-06 10:00:00 UTC: incident 42; 0123456789 was not deployed, nothing was touched (fanout unlock lifts the lock; fanout deploy --override-lock goes through it, and is recorded)');
  });
});
