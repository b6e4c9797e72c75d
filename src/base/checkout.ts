import fs from 'node:fs';
import path from 'node:path';
import { FanoutError } from './errors.js';
import { firstLine, run } from './exec.js';
import { gitEnv, isAttributesFile, treeEntryKinds, type Change, type Commit } from './git.js';
import type { Logger } from './log.js';
import { displayPath, onDisk, relPathBytes, type RelPath } from './paths.js';
import { currentUid, userName } from './trust.js';

/**
 * The source directory as git's work tree: a commit written into it (path by path, whole, or by
 * git's own two-tree switch), never through a symlink made by hand, and a checkout the file system
 * refuses said with what blocked it. The questions asked of the repository are git.ts's.
 */

/**
 * Write `commit`'s version of `paths` into `source` (or of every file, with 'all'), leaving the
 * repository's HEAD, refs and index alone. Each path deleted, or changing kind, is removed first,
 * then whatever the change says the commit has at it is written by `git checkout-index` from a
 * scratch index holding just those entries, so git's own rules apply (exec bits, symlinks,
 * .gitattributes filters) and the cost follows the number of paths, not the size of the tree.
 * Directories left empty are removed, as git does. Names go to git on stdin and to the file
 * system as bytes.
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
      for (const change of removals(paths)) removeInside(source, change.path);
      await git(['update-index', '-z', '--index-info'], indexInfo(paths));
    }
    await git(['checkout-index', '--all', '--force']);
    if (paths !== 'all') removeEmptyParents(source, removals(paths).map((c) => c.path));
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

/**
 * The changes whose paths are removed before the checkout, parents first: deletions, and every
 * change of a path's kind (a file that becomes a symlink or a directory, and back). A file that
 * stays a file is left to checkout-index --force, which unlinks it and writes the new one (a
 * thousand edited pages cost a thousand removals in node otherwise); nothing but a removal
 * empties a directory.
 */
function removals(changes: readonly Change[]): Change[] {
  const regular = (mode: string | undefined): boolean => mode === '100644' || mode === '100755';
  return changes.filter((c) => !(regular(c.entry?.mode) && (c.before === undefined || regular(c.before.mode)))).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
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
