import fs from 'node:fs';
import path from 'node:path';
import { FanoutError } from './errors.js';
import { firstLine, run } from './exec.js';
import { silentLogger, type Logger } from './log.js';
import { pathProblem, relPathBytes, type RelPath } from './paths.js';

/** A full 40- or 64-hex object name, never a ref name: what a revision resolves to once. */
export type Commit = string & { readonly __brand: 'Commit' };

export const ZERO_COMMIT = /^0+$/;

export interface TreeEntry {
  mode: string;
  blob: string;
}

export interface Change {
  /** git's status letter: A added, M modified, D deleted, T type changed (file <-> symlink) */
  status: string;
  /** the name as git's bytes (see paths.ts) */
  path: RelPath;
  /** what the newer commit has at the path (mode and blob), unless it was deleted */
  entry?: TreeEntry;
  /** what the older commit had at the path, unless it was added */
  before?: TreeEntry;
}

export interface CommitInfo {
  commit: Commit;
  subject: string;
  date: string;
}

/**
 * The whole environment of every git call: the hook runs with GIT_DIR and friends set by
 * receive-pack, and none of them, nor an editor or pager, may leak in.
 */
export function gitEnv(repo: string, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = { GIT_DIR: repo, LC_ALL: 'C', PATH: from.PATH ?? '/usr/bin:/bin' };
  if (from.HOME !== undefined) env.HOME = from.HOME;
  if (inQuarantine(repo, from)) for (const name of QUARANTINE) if (from[name] !== undefined) env[name] = from[name];
  return env;
}

/**
 * What git's pre-receive hook is given to read the pushed objects, which git holds apart (the
 * quarantine) until the hook accepts the push; every git call in it needs them.
 */
const QUARANTINE = ['GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_QUARANTINE_PATH'] as const;

/**
 * Run from git's pre-receive hook for this repository, before git has accepted the push: the
 * pushed objects are readable, but no ref may be written (git refuses it) and any object written
 * is dropped with the push if it is rejected. Only a quarantine inside this repository counts.
 */
export function inQuarantine(repo: string, from: NodeJS.ProcessEnv = process.env): boolean {
  const quarantine = from.GIT_QUARANTINE_PATH;
  if (quarantine === undefined || quarantine === '') return false;
  const real = (p: string): string => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  return real(quarantine).startsWith(path.join(real(repo), 'objects') + path.sep);
}

/** One git call on the repository, through the exec seam; its output as text, or an Error with git's words. */
async function git(repo: string, args: readonly string[], log: Logger = silentLogger): Promise<string> {
  const result = await run('git', args, { env: gitEnv(repo), log });
  if (result.exitCode !== 0) throw new Error(`git ${args[0] ?? ''}: ${firstLine(result.spawnError ?? result.stderr) || `exit ${result.exitCode}`}`);
  return result.stdout;
}

export async function isBareRepo(repo: string): Promise<boolean> {
  if (!fs.existsSync(repo)) return false;
  try {
    return (await git(repo, ['rev-parse', '--is-bare-repository'])).trim() === 'true';
  } catch {
    return false;
  }
}

/** A new bare repository whose HEAD names `branch`, refusing malformed pushed trees (see checksPushedObjects). */
export async function createBareRepo(repo: string, branch: string): Promise<void> {
  // no GIT_DIR here: git init would take it for the repository and the argument for a work tree
  const env = gitEnv(repo);
  delete env.GIT_DIR;
  const made = await run('git', ['init', '--quiet', '--bare', `--initial-branch=${branch}`, '--', repo], { env, log: silentLogger });
  if (made.exitCode !== 0) throw new FanoutError(`cannot create the repository ${repo}: ${firstLine(made.spawnError ?? made.stderr)}`, 1);
  await git(repo, ['config', 'receive.fsckObjects', 'true']);
  await advertisePushOptions(repo);
}

/**
 * Whether git takes push options (`git push -o message=...`) into the repository: without
 * receive.advertisePushOptions, git refuses such a push ("the receiving end does not support push options").
 */
export async function takesPushOptions(repo: string): Promise<boolean> {
  try {
    return (await git(repo, ['config', '--bool', '--get', 'receive.advertisePushOptions'])).trim() === 'true';
  } catch {
    return false; // not set: git's default is off
  }
}

export async function advertisePushOptions(repo: string): Promise<void> {
  await git(repo, ['config', 'receive.advertisePushOptions', 'true']);
}

/**
 * Whether the repository checks what it receives (receive.fsckObjects): then git itself refuses a
 * pushed tree with a `..` or `.git` entry, or the same name twice, before fanout ever sees it.
 */
export async function checksPushedObjects(repo: string): Promise<boolean> {
  try {
    return (await git(repo, ['config', '--bool', '--get', 'receive.fsckObjects'])).trim() === 'true';
  } catch {
    return false; // not set: git's default is off
  }
}

/**
 * Whether git will refuse to move a branch from `from` to `to` as a non-fast-forward
 * (receive.denyNonFastForwards, on in a `git init --shared` repository). git checks it only after
 * the pre-receive hook has accepted the push: a gated deploy must ask first.
 */
export async function refusesNonFastForward(repo: string, from: Commit, to: Commit): Promise<boolean> {
  let denied: string;
  try {
    denied = (await git(repo, ['config', '--bool', '--get', 'receive.denyNonFastForwards'])).trim();
  } catch {
    return false; // not set: git's default is to take them
  }
  if (denied !== 'true') return false;
  const result = await run('git', ['merge-base', '--is-ancestor', '--end-of-options', from, to], { env: gitEnv(repo), log: silentLogger });
  return result.exitCode === 1;
}

/** Resolve any revision git understands (sha, short sha, tag, main~3) to a commit, or say it is unknown. */
export async function resolveCommit(repo: string, rev: string): Promise<Commit> {
  if (rev.startsWith('-') || rev.trim() === '') throw new FanoutError(`unknown revision "${rev}"`);
  try {
    const sha = (await git(repo, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`])).trim();
    if (/^[0-9a-f]{40,64}$/.test(sha)) return sha as Commit;
  } catch {
    // rev-parse --quiet fails without a message; the sentence below says it all
  }
  throw new FanoutError(`unknown revision "${rev}": it is not a commit in ${repo}`);
}

/** The branch tip, or undefined when the branch does not exist yet (nothing pushed). */
export async function branchTip(repo: string, branch: string | undefined): Promise<Commit | undefined> {
  if (branch === undefined) return undefined;
  try {
    return await resolveCommit(repo, `refs/heads/${branch}`);
  } catch {
    return undefined;
  }
}

export async function commitInfo(repo: string, commit: Commit): Promise<CommitInfo> {
  const out = await git(repo, ['log', '-1', '--no-show-signature', '--format=%s%x00%cI', '--end-of-options', commit, '--']);
  const [subject = '', date = ''] = out.replace(/\n$/, '').split('\0');
  return { commit, subject, date };
}

/**
 * Paths that differ between two commits, NUL-separated so any file name survives, without rename
 * detection: a rename is a deletion plus an addition, which is exactly what rsync must do.
 * Plumbing (diff-tree) so that no user diff config changes the output.
 */
export async function changedPaths(repo: string, from: Commit, to: Commit, log: Logger, limit = Number.POSITIVE_INFINITY): Promise<Diff> {
  // streamed, NUL by NUL: past `limit` changes nothing more is kept, so a commit that touches a
  // million files costs its count, not its listing; every name is still checked as it goes by
  let meta: string | undefined;
  let count = 0;
  let changes: Change[] | undefined = [];
  let refused: { path: RelPath; problem: string } | undefined;
  let attributes = false;
  const result = await run('git', ['diff-tree', '-r', '-z', '--no-renames', '--raw', '--no-abbrev', '--end-of-options', from, to, '--'], {
    env: gitEnv(repo),
    binary: true,
    lineEnd: '\0',
    onLine: (field) => {
      if (meta === undefined) {
        meta = field;
        return;
      }
      const change = parseRawRecord(meta, field);
      meta = undefined;
      if (change === undefined) return;
      count += 1;
      if (refused === undefined) {
        const problem = pathProblem(change.path);
        if (problem !== undefined) refused = { path: change.path, problem };
      }
      attributes ||= isAttributesFile(change.path);
      if (changes !== undefined && count > limit) changes = undefined;
      changes?.push(change);
    },
    log,
  });
  // not a FanoutError: the caller falls back to a full pass when git has lost one of the commits
  if (result.exitCode !== 0) throw new Error(`git cannot compare ${from.slice(0, 10)} with ${to.slice(0, 10)}: ${firstLine(result.spawnError ?? result.stderr)}`);
  return { changes, refused, attributes };
}

/** A diff between two commits: its changes, or undefined when there were more than the limit. */
export interface Diff {
  changes: Change[] | undefined;
  /** the first path fanout refuses to act on (invariant 8), and why */
  refused: { path: RelPath; problem: string } | undefined;
  /** whether a .gitattributes file is among the changes (see changesAttributes) */
  attributes: boolean;
}

const ABSENT = /^0+$/;

/** `diff-tree --raw -z`: ":oldmode newmode oldblob newblob status\0path\0" per changed path (a byte string). */
export function parseRawDiff(out: string): Change[] {
  const fields = out.split('\0');
  const changes: Change[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const change = parseRawRecord(fields[i] ?? '', fields[i + 1] ?? '');
    if (change === undefined) break;
    changes.push(change);
  }
  return changes;
}

function parseRawRecord(meta: string, file: string): Change | undefined {
  const m = /^:(\d{6}) (\d{6}) ([0-9a-f]+) ([0-9a-f]+) ([A-Z])/.exec(meta);
  if (m === null || file === '') return undefined;
  const [, oldMode = '', mode = '', oldBlob = '', blob = '', status = ''] = m;
  const change: Change = { status, path: file };
  if (status !== 'D') change.entry = { mode, blob };
  if (!ABSENT.test(oldMode)) change.before = { mode: oldMode, blob: oldBlob };
  return change;
}

/**
 * Invariant 8 for a tree written whole (a source rewritten, a build's worktree): every name in
 * the commit's tree, streamed; the first one fanout refuses, and why, if any.
 */
export async function firstUnsafeName(repo: string, commit: Commit, log: Logger): Promise<{ path: RelPath; problem: string } | undefined> {
  let unsafe: { path: RelPath; problem: string } | undefined;
  await eachTreePath(repo, commit, log, (rel) => {
    if (unsafe !== undefined) return;
    const problem = pathProblem(rel);
    if (problem !== undefined) unsafe = { path: rel, problem };
  });
  return unsafe;
}

/**
 * Every path of `commit`'s tree, one at a time as git lists them (a byte string each), so that a
 * tree of a million files is checked without holding its listing.
 */
export async function eachTreePath(repo: string, commit: Commit, log: Logger, onPath: (rel: RelPath) => void): Promise<void> {
  const result = await run('git', ['ls-tree', '-r', '-z', '--name-only', '--full-tree', '--end-of-options', commit], {
    env: gitEnv(repo),
    binary: true,
    lineEnd: '\0',
    onLine: (rel) => {
      if (rel !== '') onPath(rel);
    },
    log,
  });
  if (result.exitCode !== 0) throw new FanoutError(`git cannot list ${commit.slice(0, 10)}: ${firstLine(result.spawnError ?? result.stderr)}`, 1);
}

/** Whether the commit's tree has no entry at all (a commit that deletes everything). */
export async function isEmptyTree(repo: string, commit: Commit, log: Logger): Promise<boolean> {
  const result = await run('git', ['ls-tree', '-z', '--name-only', '--end-of-options', commit], { env: gitEnv(repo), binary: true, log });
  if (result.exitCode !== 0) throw new FanoutError(`git cannot list ${commit.slice(0, 10)}: ${firstLine(result.spawnError ?? result.stderr)}`, 1);
  return result.stdout === '';
}

export type EntryKind = 'directory' | 'other' | 'missing';

/**
 * What `commit`'s tree has at each path: a directory, something else (a file, a symlink), or
 * nothing. One `cat-file --batch-check -z` for all of them, the names on stdin as bytes.
 */
export async function treeEntryKinds(repo: string, commit: Commit, paths: readonly RelPath[], log: Logger): Promise<Map<RelPath, EntryKind>> {
  const kinds = new Map<RelPath, EntryKind>();
  if (paths.length === 0) return kinds;
  const input = paths.map((p) => `${commit}:${p}\0`).join('');
  const result = await run('git', ['cat-file', '--batch-check=%(objecttype)', '-z'], { env: gitEnv(repo), input: relPathBytes(input), binary: true, log });
  if (result.exitCode !== 0) throw new FanoutError(`git cannot read ${commit.slice(0, 10)}: ${firstLine(result.spawnError ?? result.stderr)}`, 1);
  // one line per name: its type, or the name itself then " missing" (a name may hold a newline)
  let at = 0;
  for (const p of paths) {
    const missing = `${commit}:${p} missing\n`;
    if (result.stdout.startsWith(missing, at)) {
      kinds.set(p, 'missing');
      at += missing.length;
      continue;
    }
    const end = result.stdout.indexOf('\n', at);
    const type = result.stdout.slice(at, end === -1 ? undefined : end);
    // a submodule whose commit this repository happens to hold: an empty directory, as on disk
    // (one whose commit it lacks reads as missing here: planTarget knows it from the diff)
    kinds.set(p, type === 'tree' || type === 'commit' ? 'directory' : type === 'blob' ? 'other' : 'missing');
    at = end === -1 ? result.stdout.length : end + 1;
  }
  return kinds;
}

/**
 * A .gitattributes file decides how other files check out (eol, filters): a change to one changes
 * the bytes of files the diff does not name.
 */
export function changesAttributes(changes: readonly Change[]): boolean {
  return changes.some((c) => isAttributesFile(c.path));
}

export function isAttributesFile(rel: RelPath): boolean {
  return rel === '.gitattributes' || rel.endsWith('/.gitattributes');
}

/** A submodule's entry: its files are in another repository; a checkout makes an empty directory for it. */
export const GITLINK = '160000';
