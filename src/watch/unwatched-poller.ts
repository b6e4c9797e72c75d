import fs from 'node:fs';
import type { Logger } from '../base/log.js';
import { bytesOf, displayPath, onDisk, type RelPath } from '../base/paths.js';
import type { Change } from './batcher.js';
import type { Clock } from './clock.js';
import { raiseLimitAdvice, walkDirectories, watchLimit } from './inotify.js';

/** How often a directory inotify could not watch is walked for changes. */
export const POLL_UNWATCHED_MS = 1000;

export interface UnwatchedDirectoriesOptions {
  /** the source, whose directories inotifywait names (as bytes) when it cannot watch them */
  source: string;
  /** at most this many paths polled in all: past it, a full pass is cheaper */
  limit: number;
  /** a path a batch may carry (not in watch.ignore, a name fanout acts on) */
  keep: (rel: RelPath) => boolean;
  /** paths changed, or a full pass is needed: the batch runner's note */
  note: (change: Change) => void;
  /** `fanout status` is to show the watcher degraded, for this reason */
  degraded: (why: string) => void;
  log: Logger;
  write: (line: string) => void;
  clock: Pick<Clock, 'every'>;
  /** the inotify watch limit, named in the advice (read from /proc unless a test says) */
  watchLimit?: () => number | undefined;
}

/**
 * A directory inotifywait could not watch (the watch limit) raises no event for what happens
 * inside it: a full pass now finds what is there, and from then on the directory is polled.
 * Said for the first few such directories, then counted; `fanout status` shows the watcher as
 * degraded until it is restarted.
 */
export class UnwatchedDirectories {
  private readonly poller: UnwatchedPoller;
  private lost = 0;
  private stopPolling: (() => void) | undefined;

  constructor(private readonly options: UnwatchedDirectoriesOptions) {
    this.poller = new UnwatchedPoller(options.source, options.limit);
  }

  /** inotifywait could not watch `dir`, an absolute path in bytes as it wrote it. */
  lostWatch(dir: string): void {
    const { log, write } = this.options;
    const limit = this.options.watchLimit ?? watchLimit;
    const sourceBytes = bytesOf(this.options.source);
    const rel = dir.startsWith(`${sourceBytes}/`) ? dir.slice(sourceBytes.length + 1).replace(/\/+$/, '') : '';
    this.lost += 1;
    const polled = rel !== '' && this.poller.add(rel);
    const why = `a new directory cannot be watched (${displayPath(rel)}): the inotify watch limit is reached; ${polled ? `fanout polls it every ${POLL_UNWATCHED_MS / 1000}s instead` : 'changes in it are seen only by a full pass (fanout sync)'}; ${raiseLimitAdvice(limit())}, then restart fanout watch`;
    log.warn({ lost: this.lost }, why);
    if (this.lost <= 5) write(`warning: ${why}`);
    else if (this.lost % 100 === 0) write(`warning: ${this.lost} directories cannot be watched so far (the inotify watch limit); ${raiseLimitAdvice(limit())}`);
    this.options.degraded(why);
    this.stopPolling ??= this.options.clock.every(POLL_UNWATCHED_MS, () => {
      this.poll();
    });
    this.options.note({ full: true });
  }

  /** No more polls (fanout watch stops). */
  stop(): void {
    this.stopPolling?.();
  }

  /** What changed in the polled directories since the last poll, for the next batch; a directory dropped from the poll, a full pass. */
  private poll(): void {
    const { changed, dropped } = this.poller.poll();
    const paths = changed.filter((p) => this.options.keep(p));
    if (paths.length > 0 || dropped.length > 0) this.options.note({ paths, full: dropped.length > 0 });
  }
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
