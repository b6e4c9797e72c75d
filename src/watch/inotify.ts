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

/**
 * Directories inotify could not watch, looked at by polling instead: each poll walks them (lstat,
 * never following links) and names every path whose type, size, mode or mtime changed, appeared or
 * went away since the last poll. Bounded: past `limit` paths in all, a directory is dropped from the
 * poll, and the caller is told so.
 */
export class UnwatchedPoller {
  private readonly seen = new Map<RelPath, Map<RelPath, string>>();

  constructor(
    private readonly root: string,
    private readonly limit: number,
  ) {}

  get directories(): RelPath[] {
    return [...this.seen.keys()];
  }

  /** Start polling a directory; false when it is too large to poll. */
  add(dir: RelPath): boolean {
    if (this.seen.has(dir) || [...this.seen.keys()].some((d) => dir.startsWith(`${d}/`))) return true;
    const listing = this.list(dir);
    if (listing === undefined) return false;
    this.seen.set(dir, listing);
    return true;
  }

  /** The paths that changed since the last poll; directories grown past the bound are dropped (returned in `dropped`). */
  poll(): { changed: RelPath[]; dropped: RelPath[] } {
    const changed: RelPath[] = [];
    const dropped: RelPath[] = [];
    for (const [dir, before] of this.seen) {
      const now = this.list(dir);
      if (now === undefined) {
        this.seen.delete(dir);
        dropped.push(dir);
        continue;
      }
      for (const [p, sig] of now) if (before.get(p) !== sig) changed.push(p);
      for (const p of before.keys()) if (!now.has(p)) changed.push(p);
      this.seen.set(dir, now);
    }
    return { changed, dropped };
  }

  private list(dir: RelPath): Map<RelPath, string> | undefined {
    const signatures = new Map<RelPath, string>();
    let total = [...this.seen.values()].reduce((n, m) => n + m.size, 0) - (this.seen.get(dir)?.size ?? 0);
    let bounded = true;
    walkDirectories(this.root, dir, (_parent, entries) => {
      for (const p of entries) {
        try {
          const st = fs.lstatSync(onDisk(this.root, p));
          signatures.set(p, `${st.mode} ${st.size} ${st.mtimeMs}`);
        } catch {
          // gone between the listing and the look: the next poll sees it missing
        }
      }
      total += entries.length;
      bounded = total <= this.limit;
      return bounded;
    });
    return bounded ? signatures : undefined;
  }
}
