import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeAtomically } from '../../../src/engine/journal.js';

// writeAtomically on a real file system: the state, the metrics textfile.

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-journal-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('writeAtomically', () => {
  it('replaces the file whole, with the mode asked for', () => {
    const file = path.join(dir, 'fanout.prom');
    writeAtomically(file, 'one\n', { mode: 0o644 });
    writeAtomically(file, 'two\n', { mode: 0o644 });
    expect(fs.readFileSync(file, 'utf8')).toBe('two\n');
    expect(fs.statSync(file).mode & 0o777).toBe(0o644);
    expect(fs.readdirSync(dir)).toEqual(['fanout.prom']);
  });

  it('a write that fails leaves no temporary file behind', () => {
    // a directory where the file should be: the rename fails
    const file = path.join(dir, 'state.json');
    fs.mkdirSync(path.join(file, 'x'), { recursive: true });
    expect(() => {
      writeAtomically(file, '{}\n');
    }).toThrow();
    expect(fs.readdirSync(dir)).toEqual(['state.json']);
  });

  it('a FIFO planted under the temporary name neither blocks it nor is written through', () => {
    const file = path.join(dir, 'fanout.prom');
    execFileSync('mkfifo', [`${file}.tmp-${process.pid}`]);
    writeAtomically(file, 'metrics\n', { mode: 0o644 });
    expect(fs.readFileSync(file, 'utf8')).toBe('metrics\n');
    expect(fs.readdirSync(dir)).toEqual(['fanout.prom']);
  });
});
