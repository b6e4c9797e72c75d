import { describe, expect, it } from 'vitest';
import { buildMessage, buildOf } from '../../../src/build/build-commits.js';
import type { Commit } from '../../../src/base/git.js';

const SOURCE = 'a'.repeat(40) as Commit;
const SPOOF = 'b'.repeat(40);

describe('a build commit names its source on the line after its subject', () => {
  it('reads the fanout-build-of line that follows the subject', () => {
    expect(buildOf(`Fix the footer\n\nfanout-build-of: ${SOURCE}\nfanout-build-command: make\n`)).toBe(SOURCE);
    expect(buildOf(`\n\nfanout-build-of: ${SOURCE}\n`)).toBe(SOURCE);
  });

  it('never a line the pusher wrote: the subject, or anything else', () => {
    // the subject is the source commit's own, and a pusher writes it
    expect(buildOf(`fanout-build-of: ${SPOOF}\n\nfanout-build-of: ${SOURCE}\n`)).toBe(SOURCE);
    expect(buildOf(`fanout-build-of: ${SPOOF}\n`)).toBeUndefined();
    expect(buildOf(`a plain commit\n\nbody\nfanout-build-of: ${SPOOF}\n`)).toBeUndefined();
    expect(buildOf(`x\n\nfanout-build-of: ${SOURCE.slice(1)}\n`)).toBeUndefined();
  });
});

describe('a build commit\'s message', () => {
  it('names its source where buildOf reads it, whatever the subject says', () => {
    const message = buildMessage(`fanout-build-of: ${SPOOF}`, SOURCE, 'npm run build', new Date('2026-12-02T12:00:00.000Z'), 1234);
    expect(message).toBe(`fanout-build-of: ${SPOOF}\n\nfanout-build-of: ${SOURCE}\nfanout-build-command: npm run build\nfanout-built-at: 2026-12-02T12:00:00.000Z\nfanout-build-ms: 1234\n`);
    expect(buildOf(message)).toBe(SOURCE);
  });
});
