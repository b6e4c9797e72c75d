import fs from 'node:fs';
import path from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { FanoutError } from './errors.js';
import { run } from './exec.js';
import type { Logger } from './log.js';

/** A full 40- or 64-hex object name, never a ref name: what a revision resolves to once. */
export type Commit = string & { readonly __brand: 'Commit' };

export const ZERO_COMMIT = /^0+$/;

export interface Change {
  /** git's status letter: A added, M modified, D deleted, T type changed (file <-> symlink) */
  status: string;
  path: string;
  /** what the newer commit has at the path (mode and blob), unless it was deleted */
  entry?: { mode: string; blob: string };
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
function gitEnv(repo: string): Record<string, string> {
  const env: Record<string, string> = { GIT_DIR: repo, LC_ALL: 'C', PATH: process.env.PATH ?? '/usr/bin:/bin' };
  if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
  return env;
}

/** A git client bound to one bare repository. */
function gitFor(repo: string): SimpleGit {
  return simpleGit({
    baseDir: fs.existsSync(repo) ? repo : process.cwd(),
    trimmed: false,
    // simple-git strips GIT_* variables unless named; fanout sets this one itself, never from its caller
    allowEnvironment: ['GIT_DIR'],
  }).env(gitEnv(repo));
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
  const out = await gitFor(repo).raw(['diff-tree', '-r', '-z', '--no-renames', '--raw', '--no-abbrev', from, to, '--']);
  return parseRawDiff(out);
}

/** `diff-tree --raw -z`: ":oldmode newmode oldblob newblob status\0path\0" per changed path. */
export function parseRawDiff(out: string): Change[] {
  const fields = out.split('\0');
  const changes: Change[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const meta = /^:\d{6} (\d{6}) [0-9a-f]+ ([0-9a-f]+) ([A-Z])/.exec(fields[i] ?? '');
    const file = fields[i + 1] ?? '';
    if (meta === null || file === '') break;
    const [, mode = '', blob = '', status = ''] = meta;
    changes.push(status === 'D' ? { status, path: file } : { status, path: file, entry: { mode, blob } });
  }
  return changes;
}

/**
 * Write `commit`'s version of `paths` into `source` (or of every file, with 'all'), leaving the
 * repository's HEAD, refs and index alone. Each path is removed first, then whatever the commit
 * has at it is written by `git checkout-index` from a scratch index holding just those entries,
 * so git's own rules apply (exec bits, symlinks, .gitattributes filters) and the cost follows
 * the number of paths, not the size of the tree. Directories left empty are removed, as git does.
 */
export async function checkout(
  repo: string,
  source: string,
  commit: Commit,
  paths: readonly Change[] | 'all',
  scratchIndex: string,
  log: Logger,
  /** with 'all': also remove what the commit lacks, but for paths matching these patterns */
  removeOthers?: { keep: readonly string[] },
): Promise<void> {
  fs.mkdirSync(source, { recursive: true });
  // names are literal for ls-tree (a `*` in a file name is a `*`)
  const env = { ...gitEnv(repo), GIT_LITERAL_PATHSPECS: '1', GIT_INDEX_FILE: scratchIndex, GIT_WORK_TREE: source };
  const git = async (args: string[], input?: string): Promise<string> => {
    const result = await run('git', args, { env, input, log });
    if (result.exitCode !== 0) {
      throw new FanoutError(`cannot check ${commit.slice(0, 10)} out into ${source}: ${firstLine(result.spawnError ?? result.stderr)}`, 1);
    }
    return result.stdout;
  };
  fs.rmSync(scratchIndex, { force: true });
  try {
    if (paths === 'all') {
      await git(['read-tree', commit]);
      if (removeOthers !== undefined) {
        const others = await git(['-C', source, 'ls-files', '-z', '--others', '--directory', ...removeOthers.keep.map((pattern) => `--exclude=${pattern}`)]);
        for (const rel of others.split('\0')) if (rel !== '') fs.rmSync(path.join(source, rel), { recursive: true, force: true });
      }
    } else {
      for (const change of paths) fs.rmSync(path.join(source, change.path), { recursive: true, force: true });
      // The diff already names each new blob; only paths without one (from an earlier, cut-short
      // attempt) are looked up in the commit's tree.
      let entries = paths
        .filter((c) => c.entry !== undefined && c.entry.mode !== GITLINK)
        .map((c) => `${c.entry?.mode ?? ''} ${c.entry?.blob ?? ''}\t${c.path}\0`)
        .join('');
      const unknown = paths.filter((c) => c.entry === undefined && c.status !== 'D').map((c) => c.path);
      for (let i = 0; i < unknown.length; i += PATHSPEC_CHUNK) {
        entries += await git(['ls-tree', '-r', '-z', '--full-tree', commit, '--', ...unknown.slice(i, i + PATHSPEC_CHUNK)]);
      }
      await git(['update-index', '-z', '--index-info'], entries);
    }
    await git(['checkout-index', '--all', '--force']);
    if (paths !== 'all') removeEmptyParents(source, paths.map((c) => c.path));
  } finally {
    fs.rmSync(scratchIndex, { force: true });
  }
}

/** A submodule: nothing to write into a web root. */
const GITLINK = '160000';

/** Paths go to git as arguments, a bounded number per call. */
const PATHSPEC_CHUNK = 1000;

function removeEmptyParents(root: string, paths: readonly string[]): void {
  const dirs = new Set<string>();
  for (const rel of paths) for (let dir = path.posix.dirname(rel); dir !== '.'; dir = path.posix.dirname(dir)) dirs.add(dir);
  // deepest first, so a parent is tried after its children
  for (const dir of [...dirs].sort((a, b) => b.length - a.length)) {
    try {
      fs.rmdirSync(path.join(root, dir));
    } catch {
      // not empty, or not there: either way it stays as it is
    }
  }
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] ?? '';
}
