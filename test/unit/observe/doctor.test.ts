import { describe, expect, it } from 'vitest';
import { sessionNote } from '../../../src/observe/doctor.js';

describe("doctor: a relay's session time", () => {
  it('is said plainly when quick, and named slow, with the likely cause, past 300 ms', () => {
    expect(sessionNote(45.2)).toBe(' (a session starts in 45 ms)');
    expect(sessionNote(300)).not.toContain('slow');
    expect(sessionNote(580)).toContain('a session starts in 580 ms, slow: every target sent through it pays that');
    expect(sessionNote(580)).toContain('~/.bashrc');
  });
});
