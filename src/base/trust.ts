import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FanoutError } from './errors.js';

/**
 * Whoever can write the config, a password file or the state directory decides what fanout runs
 * and where it writes (invariant 10): `rsync.path` is a program, `dest` a place, the journal what
 * gets deleted. So each must belong to the running user or root, and so must every directory
 * above it, none of them writable by group or others (a directory others may write lets them
 * swap the file, unless it is sticky and root's, as /tmp is). Symlinks are resolved first and the
 * file they lead to is what is judged.
 */
export function trustProblem(file: string, uid: number = currentUid()): string | undefined {
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    return undefined; // missing: the caller says so in its own words
  }
  const shown = real === path.resolve(file) ? real : `${real} (the target of ${file})`;
  const owned = (st: fs.Stats): boolean => st.uid === uid || st.uid === 0;
  const st = fs.statSync(real);
  if (!owned(st)) return `${shown} belongs to ${userName(st.uid)}, not to ${uid === 0 ? 'root' : `${userName(uid)} or root`}`;
  if ((st.mode & 0o022) !== 0) return `${shown} is writable by ${(st.mode & 0o002) !== 0 ? 'everyone' : 'its group'} (mode ${(st.mode & 0o777).toString(8)}): chmod go-w ${real}`;
  for (let dir = path.dirname(real); ; dir = path.dirname(dir)) {
    const d = fs.statSync(dir);
    const sticky = (d.mode & 0o1000) !== 0;
    if (!owned(d)) return `${shown} sits in ${dir}, which belongs to ${userName(d.uid)}`;
    if ((d.mode & 0o022) !== 0 && !(sticky && d.uid === 0)) return `${shown} sits in ${dir}, which ${(d.mode & 0o002) !== 0 ? 'everyone' : 'its group'} may write (mode ${(d.mode & 0o7777).toString(8)}): chmod go-w ${dir}`;
    if (dir === path.dirname(dir)) return undefined;
  }
}

/** Refuse to go on from a file or directory someone else could have written; one line, exit 2. */
export function assertTrusted(file: string, what: string): void {
  const problem = trustProblem(file);
  if (problem !== undefined) throw new FanoutError(`${what}: ${problem}; refusing to use it (whoever can write it decides what fanout runs)`);
}

/**
 * The state directory is this user's own: the journal, the lock and the log are written there as
 * the user fanout runs as. Root running over another user's state directory would leave files that
 * user can no longer write, so it is refused too, with the command that runs fanout as its owner.
 */
export function assertOwnStateDir(dir: string): void {
  const uid = currentUid();
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    return; // not made yet: it is made by this user, mode 700
  }
  if (st.uid !== uid) {
    const owner = userName(st.uid);
    const how = uid === 0 ? `; run fanout as that user instead: sudo -u ${owner} fanout ...` : '';
    throw new FanoutError(`state directory ${dir} belongs to ${owner}, not to ${userName(uid)}; refusing to write there${how}`);
  }
  assertTrusted(dir, `state directory ${dir}`);
}

/** Open a file in the state directory, never through a symlink planted in its place. */
export function openOwnFile(file: string, flags: 'append' | 'write' | 'create' | 'read' | 'update'): number {
  const c = fs.constants;
  const mode = { append: c.O_WRONLY | c.O_APPEND | c.O_CREAT, write: c.O_WRONLY | c.O_CREAT | c.O_TRUNC, create: c.O_WRONLY | c.O_CREAT | c.O_EXCL, read: c.O_RDONLY, update: c.O_RDWR | c.O_CREAT }[flags];
  try {
    return fs.openSync(file, mode | c.O_NOFOLLOW, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new FanoutError(`${file} is a symlink; fanout never writes through one there: remove it`);
    throw error;
  }
}

/**
 * A directory of fanout's own inside the state directory (links/, build/, builds/), made if
 * missing; never one reached through a symlink planted in its place, since fanout empties and
 * rewrites what is inside.
 */
export function ownSubdir(stateDir: string, name: string): string {
  const dir = path.join(stateDir, name);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (st.isSymbolicLink() || !st.isDirectory()) throw new FanoutError(`${dir} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; fanout never writes through one there: remove it`);
  return dir;
}

export function currentUid(): number {
  return process.getuid?.() ?? 0;
}

export function userName(uid: number): string {
  try {
    if (uid === currentUid()) return os.userInfo().username;
    const line = fs
      .readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.split(':')[2] === String(uid));
    return line?.split(':')[0] ?? `uid ${uid}`;
  } catch {
    return `uid ${uid}`;
  }
}
