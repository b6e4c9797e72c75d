import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stateProblem } from '../../../src/engine/journal.js';
import { ownSubdir, trustProblem } from '../../../src/base/trust.js';

let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-trust-'));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('trustProblem: who could have written a file fanout acts on', () => {
  const uid = process.getuid?.() ?? 0;

  it('accepts a file of this user in directories no one else may write (a sticky root-owned /tmp included)', () => {
    const file = path.join(dir, 'fanout.yaml');
    fs.writeFileSync(file, '', { mode: 0o644 });
    expect(trustProblem(file)).toBeUndefined();
  });

  it('refuses a file others or its group may write', () => {
    const file = path.join(dir, 'fanout.yaml');
    fs.writeFileSync(file, '');
    fs.chmodSync(file, 0o666);
    expect(trustProblem(file)).toMatch(/is writable by everyone \(mode 666\): chmod go-w /);
    fs.chmodSync(file, 0o664);
    expect(trustProblem(file)).toMatch(/is writable by its group \(mode 664\)/);
  });

  it('refuses a file in a directory others may write, and judges a symlink by what it leads to', () => {
    const open = path.join(dir, 'open');
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    const file = path.join(open, 'fanout.yaml');
    fs.writeFileSync(file, '', { mode: 0o644 });
    expect(trustProblem(file)).toMatch(/sits in .*\/open, which everyone may write \(mode 777\)/);
    const link = path.join(dir, 'link.yaml');
    fs.symlinkSync(file, link);
    expect(trustProblem(link)).toMatch(/\/open\/fanout\.yaml \(the target of .*link\.yaml\) sits in/);
  });

  it('refuses a file of another account; root and the running user are trusted', () => {
    const file = path.join(dir, 'fanout.yaml');
    fs.writeFileSync(file, '', { mode: 0o644 });
    if (uid === 0) {
      fs.chownSync(file, 65534, 65534);
      expect(trustProblem(file)).toMatch(/belongs to .*, not to root$/);
    } else {
      // judged for another uid, this user's file is someone else's
      expect(trustProblem(file, uid + 12345)).toMatch(/belongs to .*, not to uid \d+ or root/);
    }
  });

  it('says nothing of a missing file (the caller says it is missing)', () => {
    expect(trustProblem(path.join(dir, 'nope'))).toBeUndefined();
  });
});

describe('stateProblem: the journal is checked before it is believed', () => {
  const sha = 'a'.repeat(40);
  const good = { version: 1, nextDeployId: 2, current: { commit: sha, deployId: 1, at: 'x' }, source: { commit: sha, attempted: [] }, targets: { web1: { commit: sha, at: 'x', status: 'ok', attempted: [] } } };

  it('accepts a valid journal', () => {
    expect(stateProblem(JSON.stringify(good)).state).toEqual(good);
  });

  it('refuses a torn one, and a commit that is not a full sha (it would reach git as an option)', () => {
    expect(stateProblem(JSON.stringify(good).slice(0, 30)).why).toMatch(/^not JSON: /);
    const bad = structuredClone(good);
    bad.targets.web1.commit = '--output=/tmp/x';
    expect(stateProblem(JSON.stringify(bad)).why).toBe('targets.web1.commit: not a full commit id');
    expect(stateProblem(JSON.stringify({ ...good, version: 2 })).why).toMatch(/^version: /);
  });
});

describe('ownSubdir: a directory fanout empties and rewrites, never through a planted symlink', () => {
  it('is made when missing, and refused when a symlink stands in its place', () => {
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-own-subdir-'));
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-elsewhere-'));
    try {
      expect(ownSubdir(state, 'links')).toBe(path.join(state, 'links'));
      expect(fs.statSync(path.join(state, 'links')).isDirectory()).toBe(true);
      fs.symlinkSync(elsewhere, path.join(state, 'build'));
      expect(() => ownSubdir(state, 'build')).toThrow(/build is a symlink; fanout never writes through one there: remove it/);
    } finally {
      fs.rmSync(state, { recursive: true, force: true });
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
