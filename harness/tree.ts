import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';

/** path -> "type mode-exec content-hash | link target": what invariant 1 says must be equal. */
export type Snapshot = Map<string, string>;

const IGNORED = new Set(['.~tmp~']);

export function snapshot(root: string): Snapshot {
  const out: Snapshot = new Map();
  const walk = (dir: string, rel: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (IGNORED.has(entry.name)) continue;
      const full = path.join(dir, entry.name);
      const key = rel === '' ? entry.name : `${rel}/${entry.name}`;
      try {
        const stat = fs.lstatSync(full);
        if (stat.isSymbolicLink()) out.set(key, `link ${fs.readlinkSync(full)}`);
        else if (stat.isDirectory()) {
          out.set(key, 'dir');
          walk(full, key);
        } else {
          const exec = (stat.mode & 0o100) !== 0 ? 'x' : '-';
          out.set(key, `file ${exec} ${crypto.createHash('sha1').update(fs.readFileSync(full)).digest('hex')}`);
        }
      } catch (error) {
        // a tree read while rsync works on it: its temp files come and go; the next look sees the rest
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  };
  walk(root, '');
  return out;
}

/** The commit's tree as git archive writes it, snapshotted the same way. */
export async function snapshotCommit(repo: string, commit: string, scratch: string): Promise<Snapshot> {
  const dir = fs.mkdtempSync(path.join(scratch, 'archive-'));
  await execa('git', ['--git-dir', repo, 'archive', '--format=tar', commit]).pipe('tar', ['-x', '-C', dir]);
  const snap = snapshot(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  return snap;
}

/** Differences as readable lines, empty when equal. */
export function diffSnapshots(expected: Snapshot, actual: Snapshot): string[] {
  const lines: string[] = [];
  for (const [key, value] of expected) {
    const got = actual.get(key);
    if (got === undefined) lines.push(`missing ${JSON.stringify(key)}`);
    else if (got !== value) lines.push(`differs ${JSON.stringify(key)}: ${got} != ${value}`);
  }
  for (const key of actual.keys()) if (!expected.has(key)) lines.push(`extra ${JSON.stringify(key)}`);
  return lines.sort();
}
