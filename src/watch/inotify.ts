import fs from 'node:fs';
import { onDisk, type RelPath } from '../base/paths.js';

/**
 * inotify needs one watch per directory, and the kernel caps the watches of one user: the sysctl
 * fs.inotify.max_user_watches, and in a user namespace (a container) also that namespace's own
 * /proc/sys/user/max_inotify_watches. The lower of the two is what this process may have.
 */
export function watchLimit(read: (file: string) => string | undefined = readProc): number | undefined {
  const limits = ['/proc/sys/fs/inotify/max_user_watches', '/proc/sys/user/max_inotify_watches']
    .map((file) => Number(read(file)?.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
  return limits.length === 0 ? undefined : Math.min(...limits);
}

function readProc(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The sentence an operator needs when watches run short: the limit, and how to raise it. */
export function raiseLimitAdvice(limit: number | undefined, directories?: number): string {
  const wanted = Math.max((directories ?? limit ?? 65536) * 2, 65536);
  const now = limit === undefined ? '' : ` (now ${limit})`;
  return `raise the inotify watch limit${now}: sysctl fs.inotify.max_user_watches=${wanted}, and put that line in /etc/sysctl.d/90-fanout.conf to keep it`;
}

/** How full the watches would be: a warning when the source's directories take more than 80%. */
export function watchBudgetWarning(directories: number, limit: number | undefined): string | undefined {
  if (limit === undefined || directories <= limit * 0.8) return undefined;
  const share = Math.round((directories / limit) * 100);
  return `the source has ${directories} directories, ${share}% of the ${limit} inotify watches this user may have; a directory that cannot be watched loses its events. ${raiseLimitAdvice(limit, directories)}`;
}

/** What inotifywait says on stderr when a directory created later cannot be watched. */
export function lostWatch(line: string): string | undefined {
  return /^Couldn't watch new directory (.*): No space left on device/.exec(line)?.[1];
}

/** What inotifywait says when it cannot set its watches up at all. */
export function limitReachedAtStart(stderr: string): boolean {
  return /upper limit on inotify watches reached|No space left on device/.test(stderr);
}

/**
 * Every directory below `rel` (itself included, '' for the root), each with its entries, walked
 * with the entries' own types: a symlink is a name, never followed (a `loop -> ..` is one entry).
 * `visit` returns false to stop the walk.
 */
export function walkDirectories(root: string, rel: RelPath, visit: (dir: RelPath, entries: RelPath[]) => boolean): void {
  const stack: RelPath[] = [rel];
  while (stack.length > 0) {
    const dir = stack.pop() as RelPath;
    let entries: fs.Dirent<Buffer>[];
    try {
      entries = fs.readdirSync(onDisk(root, dir), { withFileTypes: true, encoding: 'buffer' });
    } catch {
      continue; // gone again, or not a directory: its own event says what happened
    }
    const children = entries.map((entry) => (dir === '' ? '' : `${dir}/`) + entry.name.toString('latin1'));
    if (!visit(dir, children)) return;
    entries.forEach((entry, i) => {
      if (entry.isDirectory()) stack.push(children[i] as RelPath);
    });
  }
}

/** Every path below a directory that appeared whole, itself included; undefined past `limit` (then a full pass is cheaper). */
export function pathsBelow(root: string, rel: RelPath, limit: number): RelPath[] | undefined {
  const found: RelPath[] = [rel];
  let bounded = true;
  walkDirectories(root, rel, (_dir, entries) => {
    found.push(...entries);
    bounded = found.length <= limit;
    return bounded;
  });
  return bounded ? found : undefined;
}

/** How many directories the source holds: the watches inotifywait -r will need. */
export function countDirectories(root: string): number {
  let directories = 0;
  walkDirectories(root, '', () => {
    directories += 1;
    return true;
  });
  return directories;
}
