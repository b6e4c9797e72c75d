import fs from 'node:fs';
import path from 'node:path';
import { FanoutError } from './errors.js';
import { firstLine, run } from './exec.js';
import { silentLogger, type Logger } from './log.js';
import { displayPath, onDisk, pathProblem, relPathBytes, type RelPath } from './paths.js';
import { currentUid, userName } from './trust.js';

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
export function gitEnv(repo: string): Record<string, string> {
  const env: Record<string, string> = { GIT_DIR: repo, LC_ALL: 'C', PATH: process.env.PATH ?? '/usr/bin:/bin' };
  if (process.env.HOME !== undefined) env.HOME = process.env.HOME;
  return env;
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
export async function branchTip(repo: string, branch: string): Promise<Commit | undefined> {
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

function isAttributesFile(rel: RelPath): boolean {
  return rel === '.gitattributes' || rel.endsWith('/.gitattributes');
}

/**
 * Write `commit`'s version of `paths` into `source` (or of every file, with 'all'), leaving the
 * repository's HEAD, refs and index alone. Each path is removed first, then whatever the change
 * says the commit has at it is written by `git checkout-index` from a scratch index holding just
 * those entries, so git's own rules apply (exec bits, symlinks, .gitattributes filters) and the
 * cost follows the number of paths, not the size of the tree. Directories left empty are
 * removed, as git does. Names go to git on stdin and to the file system as bytes.
 */
export async function checkout(
  repo: string,
  source: string,
  commit: Commit,
  paths: readonly Change[] | 'all',
  scratchIndex: string,
  log: Logger,
  /**
   * with 'all': also remove what the commit lacks, but for paths matching these patterns, and these
   * directories (bytes); with `refresh`, files whose contents are already right are left as they are
   */
  removeOthers?: { keep: readonly string[]; keepDirectories?: readonly RelPath[]; refresh?: boolean },
): Promise<void> {
  fs.mkdirSync(source, { recursive: true });
  const git = scratchIndexGit(repo, source, commit, scratchIndex, log);
  fs.rmSync(scratchIndex, { force: true });
  try {
    if (paths === 'all') {
      await git(['read-tree', '--end-of-options', commit]);
      if (removeOthers !== undefined) await removeUntracked(git, source, removeOthers.keep, removeOthers.keepDirectories ?? []);
      // The index learns which files already hold their blob (git compares contents), and
      // checkout-index then writes only the others: modified, missing or of another type.
      // git judges a file through the .gitattributes on disk: when those are not the commit's,
      // every file is written.
      if (removeOthers?.refresh === true && (await attributesAsCommitted(git, source))) await git(['update-index', '-q', '--refresh']);
    } else {
      // parents first, so that a tracked symlink that becomes a directory goes before what was below it
      for (const change of [...paths].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) removeInside(source, change.path);
      await git(['update-index', '-z', '--index-info'], indexInfo(paths));
    }
    await git(['checkout-index', '--all', '--force']);
    if (paths !== 'all') removeEmptyParents(source, paths.map((c) => c.path));
  } catch (error) {
    throw checkoutError(error, source, commit);
  } finally {
    fs.rmSync(scratchIndex, { force: true });
  }
}

/** A git command on the scratch index with `source` as its work tree: its stdout as a byte string. */
type IndexGit = (args: string[], input?: Buffer) => Promise<string>;

/** git for a checkout: a failure is the checkout's failure, with the path git could not write when it names one. */
function scratchIndexGit(repo: string, source: string, commit: Commit, scratchIndex: string, log: Logger): IndexGit {
  // names are literal for ls-files (a `*` in a file name is a `*`)
  const env = { ...gitEnv(repo), GIT_LITERAL_PATHSPECS: '1', GIT_INDEX_FILE: scratchIndex, GIT_WORK_TREE: source };
  return async (args, input) => {
    const result = await run('git', args, { env, input, log, binary: true });
    if (result.exitCode !== 0) {
      const said = result.spawnError ?? firstLine(result.stderr);
      const blocked = /unable to create file (.+): Permission denied|unable to unlink old '(.+)'|cannot create directory at '(.+)'/.exec(said);
      const rel = blocked?.[1] ?? blocked?.[2] ?? blocked?.[3];
      throw checkoutFailure(source, commit, said, rel === undefined ? undefined : path.join(source, rel));
    }
    return result.stdout;
  };
}

/** What the commit's tree (now the index) lacks, removed from `source`, but for the kept patterns and directories. */
async function removeUntracked(git: IndexGit, source: string, keep: readonly string[], keepDirectories: readonly RelPath[]): Promise<void> {
  // a kept directory is never reached through a symlink made by hand above it: refused before anything is removed
  const link = symlinkAbove(source, keepDirectories);
  if (link !== undefined) throw throughSymlink(link);
  const others = await git(['-C', source, 'ls-files', '-z', '--others', '--directory', ...keep.map((pattern) => `--exclude=${pattern}`)]);
  for (const rel of others.split('\0')) if (rel !== '') removeAllBut(source, rel.replace(/\/$/, ''), keepDirectories);
}

/** Whether every .gitattributes of the commit (now the index) is on disk as committed. */
async function attributesAsCommitted(git: IndexGit, source: string): Promise<boolean> {
  for (const line of (await git(['ls-files', '-z', '--stage'])).split('\0')) {
    const tab = line.indexOf('\t');
    const rel = line.slice(tab + 1);
    if (tab === -1 || !isAttributesFile(rel)) continue;
    const blob = line.split(' ')[1] ?? '';
    // only a regular file is read: a FIFO left there (a build runs code) would block the read
    if (fs.lstatSync(onDisk(source, rel), { throwIfNoEntry: false })?.isFile() !== true) return false;
    let content: Buffer;
    try {
      content = fs.readFileSync(onDisk(source, rel));
    } catch {
      return false;
    }
    if ((await git(['hash-object', '--no-filters', '--stdin'], content)).trim() !== blob) return false;
  }
  return true;
}

/** What the changes have at their paths, for `update-index -z --index-info` (bytes): a deleted path has nothing. */
function indexInfo(changes: readonly Change[]): Buffer {
  // a submodule gets an empty directory, as the whole checkout and git's own give it
  const entries = changes
    .filter((c) => c.entry !== undefined)
    .map((c) => `${c.entry?.mode ?? ''} ${c.entry?.blob ?? ''}\t${c.path}\0`)
    .join('');
  return relPathBytes(entries);
}

/** The error a checkout ends with: one the file system refused said as the checkout's failure, any other as it was. */
function checkoutError(error: unknown, source: string, commit: Commit): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  // the file system refused a removal (a directory made by root in the source, say)
  if (code === 'EACCES' || code === 'EPERM') return checkoutFailure(source, commit, `${code}: ${(error as NodeJS.ErrnoException).path ?? ''}`, (error as NodeJS.ErrnoException).path);
  return error;
}

/**
 * A checkout the file system refused, said with what blocked it: the directory in the way, its
 * owner, and the command that gives the source back to the user fanout runs as.
 */
function checkoutFailure(source: string, commit: Commit, said: string, blockedPath: string | undefined): FanoutError {
  let detail = '';
  if (blockedPath !== undefined) {
    let dir = path.dirname(blockedPath);
    while (!fs.existsSync(dir) && dir !== path.dirname(dir)) dir = path.dirname(dir);
    try {
      const owner = fs.statSync(dir).uid;
      const me = currentUid();
      if (owner !== me) detail = `; ${dir} belongs to ${userName(owner)}, not to ${userName(me)}, who runs fanout: as root, chown -R ${userName(me)} ${source}`;
    } catch {
      // nothing more to say
    }
  }
  return new FanoutError(`cannot check ${commit.slice(0, 10)} out into ${source}: ${said}${detail}`, 1);
}

/**
 * Bring `source` from one commit to another by git's own two-tree switch (`read-tree --reset -u`),
 * for a change too large to name path by path: git writes and removes only what differs (files
 * that stay keep their times, so a later rsync quick check skips them), never through a symlink,
 * and its memory is its own. The scratch index starts as `from`'s tree.
 */
export async function switchTree(repo: string, source: string, from: Commit, to: Commit, scratchIndex: string, log: Logger): Promise<void> {
  const env = { ...gitEnv(repo), GIT_INDEX_FILE: scratchIndex, GIT_WORK_TREE: source };
  fs.rmSync(scratchIndex, { force: true });
  try {
    for (const args of [['read-tree', '--end-of-options', from], ['read-tree', '--reset', '-u', '--end-of-options', from, to]]) {
      const result = await run('git', args, { env, log, cwd: source });
      if (result.exitCode !== 0) throw new FanoutError(`cannot check ${to.slice(0, 10)} out into ${source}: ${firstLine(result.spawnError ?? result.stderr)}`, 1);
    }
  } finally {
    fs.rmSync(scratchIndex, { force: true });
  }
}

/** A submodule's entry: its files are in another repository; a checkout makes an empty directory for it. */
export const GITLINK = '160000';

/**
 * The first directory above one of `paths` that is a symlink in `root` and not itself among the
 * paths (a tracked symlink that becomes a directory is removed first, and is no way through):
 * checked before the checkout touches anything.
 */
export function symlinkAbove(root: string, paths: readonly RelPath[]): string | undefined {
  const named = new Set(paths);
  const looked = new Map<RelPath, 'link' | 'dir' | 'other'>();
  for (const rel of paths) {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i += 1) {
      const above = parts.slice(0, i).join('/');
      let kind = looked.get(above);
      if (kind === undefined) {
        try {
          const st = fs.lstatSync(onDisk(root, above));
          kind = st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'other';
        } catch {
          kind = 'other';
        }
        looked.set(above, kind);
      }
      if (kind === 'link' && !named.has(above)) return path.join(root, displayPath(above));
      if (kind !== 'dir') break;
    }
  }
  return undefined;
}

/**
 * The first symlink in `source` where `commit` has a directory (one made by hand: `media` moved to
 * another disk), among the paths passes read (each with every directory above it, parents first),
 * or among every directory of the commit for a full pass: rsync would send the link itself, and
 * each target would lose the directory's files for a link to a path on the update server.
 * Undefined when there is none.
 */
export async function foreignSymlink(repo: string, source: string, commit: Commit, read: readonly RelPath[] | 'all', log: Logger): Promise<string | undefined> {
  const isLink = (rel: RelPath): boolean => fs.lstatSync(onDisk(source, rel), { throwIfNoEntry: false })?.isSymbolicLink() === true;
  if (read === 'all') {
    let found: RelPath | undefined;
    // every directory of the commit's tree, parents first, as git lists them
    const result = await run('git', ['ls-tree', '-r', '-d', '-z', '--name-only', '--full-tree', '--end-of-options', commit], {
      env: gitEnv(repo),
      binary: true,
      lineEnd: '\0',
      onLine: (rel) => {
        if (found === undefined && rel !== '' && isLink(rel)) found = rel;
      },
      log,
    });
    if (result.exitCode !== 0) throw new FanoutError(`git cannot list ${commit.slice(0, 10)}: ${firstLine(result.spawnError ?? result.stderr)}`, 1);
    return found === undefined ? undefined : path.join(source, displayPath(found));
  }
  const links = read.filter(isLink);
  if (links.length === 0) return undefined;
  const kinds = await treeEntryKinds(repo, commit, links, log);
  const found = links.find((rel) => kinds.get(rel) === 'directory');
  return found === undefined ? undefined : path.join(source, displayPath(found));
}

export function throughSymlink(link: string): FanoutError {
  return new FanoutError(`${link} is a symlink git does not have there; fanout removes and writes nothing through one: remove it (and put what it points to in git), then deploy again`, 1);
}

/**
 * Remove `rel` (below `root`), but for the kept directories below it: git's `--directory` names an
 * untracked directory whole, even one that holds an excluded path (`sub/` for `/sub/media`).
 */
function removeAllBut(root: string, rel: RelPath, kept: readonly RelPath[]): void {
  if (kept.includes(rel)) return;
  // (the caller refused a symlink above a kept directory: one there is a directory, or nothing)
  const holdsKept = kept.some((dir) => dir.startsWith(`${rel}/`)) && fs.lstatSync(onDisk(root, rel), { throwIfNoEntry: false })?.isDirectory() === true;
  if (!holdsKept) {
    fs.rmSync(onDisk(root, rel), { recursive: true, force: true });
    return;
  }
  for (const name of fs.readdirSync(onDisk(root, rel), { encoding: 'buffer' })) removeAllBut(root, `${rel}/${name.toString('latin1')}`, kept);
}

/**
 * Remove `rel` below `root`, never through a symlink: a directory above it that is a symlink (one
 * made by hand, `media -> /disk/media`) would make the removal land outside the source. Such a
 * path is refused; one whose parent is missing or a file has nothing to remove.
 */
function removeInside(root: string, rel: RelPath): void {
  const parts = rel.split('/');
  for (let i = 1; i < parts.length; i += 1) {
    const above = parts.slice(0, i).join('/');
    let st: fs.Stats;
    try {
      st = fs.lstatSync(onDisk(root, above));
    } catch {
      return;
    }
    if (st.isSymbolicLink()) throw throughSymlink(path.join(root, displayPath(above)));
    if (!st.isDirectory()) return;
  }
  fs.rmSync(onDisk(root, rel), { recursive: true, force: true });
}

function removeEmptyParents(root: string, paths: readonly RelPath[]): void {
  const dirs = new Set<string>();
  for (const rel of paths) for (let dir = path.posix.dirname(rel); dir !== '.'; dir = path.posix.dirname(dir)) dirs.add(dir);
  // deepest first, so a parent is tried after its children
  for (const dir of [...dirs].sort((a, b) => b.length - a.length)) {
    try {
      fs.rmdirSync(onDisk(root, dir));
    } catch {
      // not empty, or not there: either way it stays as it is
    }
  }
}

