import fs from 'node:fs';
import { simpleGit, type SimpleGit } from 'simple-git';
import { FanoutError, errorMessage } from './errors.js';

/** A full 40- or 64-hex object name, never a ref name: what a revision resolves to once. */
export type Commit = string & { readonly __brand: 'Commit' };

export const ZERO_COMMIT = /^0+$/;

export interface Change {
  /** git's status letter: A added, M modified, D deleted, T type changed (file <-> symlink) */
  status: string;
  path: string;
}

export interface CommitInfo {
  commit: Commit;
  subject: string;
  date: string;
}

/**
 * A git client bound to one bare repository, with a minimal environment: the hook runs with
 * GIT_DIR and friends set by receive-pack, and none of them, nor an editor or pager, may leak in.
 */
function gitFor(repo: string, extraEnv: Record<string, string> = {}): SimpleGit {
  const env: Record<string, string> = { GIT_DIR: repo, LC_ALL: 'C', PATH: process.env.PATH ?? '/usr/bin:/bin' };
  if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
  return simpleGit({
    baseDir: fs.existsSync(repo) ? repo : process.cwd(),
    trimmed: false,
    // simple-git strips these unless named; fanout sets each one itself, never from its caller
    allowEnvironment: ['GIT_DIR', 'GIT_INDEX_FILE', 'GIT_WORK_TREE'],
  }).env({ ...env, ...extraEnv });
}

export async function isBareRepo(repo: string): Promise<boolean> {
  if (!fs.existsSync(repo)) return false;
  try {
    return (await gitFor(repo).raw(['rev-parse', '--is-bare-repository'])).trim() === 'true';
  } catch {
    return false;
  }
}

/** Resolve any revision git understands (sha, short sha, tag, main~3) to a commit, or say it is unknown. */
export async function resolveCommit(repo: string, rev: string): Promise<Commit> {
  if (rev.startsWith('-') || rev.trim() === '') throw new FanoutError(`unknown revision "${rev}"`);
  try {
    const sha = (await gitFor(repo).raw(['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`])).trim();
    if (/^[0-9a-f]{40,64}$/.test(sha)) return sha as Commit;
  } catch {
    // rev-parse --quiet fails without a message; the sentence below says it all
  }
  throw new FanoutError(`unknown revision "${rev}": it is not a commit in ${repo}`);
}

/** The branch tip, or undefined when the branch does not exist yet (nothing pushed). */
export async function branchTip(repo: string, branch: string): Promise<Commit | undefined> {
  try {
    return await resolveCommit(repo, `refs/heads/${branch}`);
  } catch {
    return undefined;
  }
}

export async function hasCommit(repo: string, commit: Commit): Promise<boolean> {
  try {
    await gitFor(repo).raw(['cat-file', '-e', `${commit}^{commit}`]);
    return true;
  } catch {
    return false;
  }
}

export async function commitInfo(repo: string, commit: Commit): Promise<CommitInfo> {
  const out = await gitFor(repo).raw(['log', '-1', '--no-show-signature', '--format=%s%x00%cI', commit, '--']);
  const [subject = '', date = ''] = out.replace(/\n$/, '').split('\0');
  return { commit, subject, date };
}

/**
 * Paths that differ between two commits, NUL-separated so any file name survives, without rename
 * detection: a rename is a deletion plus an addition, which is exactly what rsync must do.
 * Plumbing (diff-tree) so that no user diff config changes the output.
 */
export async function changedPaths(repo: string, from: Commit, to: Commit): Promise<Change[]> {
  const out = await gitFor(repo).raw(['diff-tree', '-r', '-z', '--no-renames', '--name-status', '--no-ext-diff', from, to, '--']);
  return parseNameStatus(out);
}

export function parseNameStatus(out: string): Change[] {
  const fields = out.split('\0');
  const changes: Change[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const status = fields[i] ?? '';
    const file = fields[i + 1] ?? '';
    if (status === '' || file === '') break;
    changes.push({ status: status.charAt(0), path: file });
  }
  return changes;
}

/**
 * Check `commit` out into `source` with an index of fanout's own, never touching the bare repo's
 * HEAD or refs. From a known previous commit it is a two-way merge (`read-tree --reset -u OLD NEW`):
 * only changed paths are written, deleted files and the directories they leave empty go, and local
 * edits on changed paths are overwritten. Without one, every file is written.
 */
export async function checkout(repo: string, source: string, indexFile: string, from: Commit | undefined, to: Commit): Promise<void> {
  fs.mkdirSync(source, { recursive: true });
  const git = gitFor(repo, { GIT_INDEX_FILE: indexFile, GIT_WORK_TREE: source });
  const twoWay = from !== undefined && fs.existsSync(indexFile) && (await hasCommit(repo, from));
  try {
    await git.raw(twoWay ? ['read-tree', '--reset', '-u', from, to] : ['read-tree', '--reset', '-u', to]);
  } catch (error) {
    throw new FanoutError(`cannot check ${to.slice(0, 12)} out into ${source}: ${firstLine(errorMessage(error))}`, 1);
  }
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}
