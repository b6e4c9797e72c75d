import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Journal, writeAtomically, type State } from '../../../src/engine/journal.js';

// writeAtomically on a real file system: the state, the metrics textfile; the journal's group commits.

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-journal-'));
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
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

describe('Journal: group commits', () => {
  const onDisk = (): State => JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8')) as State;
  /** how many times state.json has been replaced */
  const writes = (): (() => number) => {
    const rename = vi.spyOn(fs, 'renameSync');
    return () => rename.mock.calls.filter(([, to]) => String(to).endsWith('state.json')).length;
  };

  it('applies a change at once and writes it with update; changes made while a write is under way go in one more', async () => {
    const journal = Journal.open(dir);
    const count = writes();
    const first = journal.update((s) => {
      s.nextDeployId = 2;
    });
    expect(journal.state.nextDeployId).toBe(2);
    const later = [3, 4, 5].map((id) =>
      journal.update((s) => {
        s.nextDeployId = id;
      }),
    );
    await first;
    expect(onDisk().nextDeployId).toBe(2);
    await Promise.all(later);
    expect(onDisk().nextDeployId).toBe(5);
    expect(count()).toBe(2);
  });

  it('writes noted changes with the next write, or with flush, never one write each', async () => {
    const journal = Journal.open(dir);
    const count = writes();
    const noted = ['web1', 'web2', 'web3'].map((name) =>
      journal.note((s) => {
        s.targets[name] = { commit: null, at: null, status: 'ok', attempted: [] };
      }),
    );
    expect(count()).toBe(0);
    await journal.flush();
    await Promise.all(noted);
    expect(Object.keys(onDisk().targets)).toEqual(['web1', 'web2', 'web3']);
    expect(count()).toBe(1);
    await journal.flush();
    expect(count()).toBe(1);
  });

  it('writes a note on its own once it has waited its time', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const journal = Journal.open(dir);
    const noted = journal.note((s) => {
      s.nextDeployId = 7;
    });
    await vi.advanceTimersByTimeAsync(1000);
    await noted;
    expect(onDisk().nextDeployId).toBe(7);
  });

  it('a write that fails fails every change it held, and the next write holds them again', async () => {
    const journal = Journal.open(dir);
    // a directory where state.json goes: the rename fails
    fs.mkdirSync(path.join(dir, 'state.json', 'x'), { recursive: true });
    const failed = journal.update((s) => {
      s.nextDeployId = 9;
    });
    await expect(failed).rejects.toThrow();
    fs.rmSync(path.join(dir, 'state.json'), { recursive: true });
    await journal.flush();
    expect(onDisk().nextDeployId).toBe(9);
  });
});
