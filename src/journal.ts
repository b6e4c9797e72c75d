import fs from 'node:fs';
import path from 'node:path';
import type { Commit } from './git.js';

/** What a tree (a target, or the source directory) is known to hold. */
export interface Holding {
  /** the commit it last received completely; null when unknown */
  commit: Commit | null;
  /**
   * Commits written since `commit` that did not complete (a failed transfer, or fanout killed
   * half-way): the tree may hold any mix of their files. The source's next checkout rewrites every
   * path they touched, diffed from `commit`; a target's next sync is a full pass, since a killed
   * rsync also leaves temp files no diff names.
   */
  attempted: Commit[];
}

/** What fanout knows of one target. */
export interface TargetState extends Holding {
  at: string | null;
  status: 'ok' | 'failed';
  error?: string;
  /**
   * Paths changed in the source outside git (seen by watch) that this target may lack: a watch
   * batch notes them before sending and clears them when the target has them; any later sync of
   * the target sends them again.
   */
  dirty?: string[];
}

export interface State {
  version: 1;
  nextDeployId: number;
  /** the commit the latest deploy aimed at: what "ok" in `fanout status` means */
  current: { commit: Commit; deployId: number; at: string } | null;
  /** what `source` holds, kept like a target's so the next checkout writes only what changed */
  source: Holding;
  targets: Record<string, TargetState>;
}

export type Reason = 'push' | 'manual' | 'rollback' | 'sync' | 'watch';

export interface TargetOutcome {
  name: string;
  status: 'ok' | 'failed' | 'skipped';
  /** what was done: nothing to send, the named paths, or a full pass */
  mode: 'none' | 'paths' | 'full';
  from: Commit | null;
  sent: number;
  deleted: number;
  /** bytes of the files sent */
  bytes: number;
  durationMs: number;
  attempts: number;
  error?: string;
  /** dry runs only: rsync's itemized lines, or the planned paths when rsync could not be asked */
  items?: string[];
}

export interface HistoryEntry {
  id: number;
  startedAt: string;
  finishedAt: string;
  commit: Commit;
  subject: string;
  reason: Reason;
  startedBy: string;
  dryRun?: boolean;
  targets: TargetOutcome[];
}

const EMPTY: State = { version: 1, nextDeployId: 1, current: null, source: { commit: null, attempted: [] }, targets: {} };

/**
 * The state journal: `state.json`, replaced atomically (write, fsync, rename) so a crash at any
 * point leaves either the old or the new document; `history.ndjson`, append-only, one deploy a
 * line, a torn last line skipped when read. One writer at a time is guaranteed by the deploy lock.
 */
export class Journal {
  private writes: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    public state: State,
    readonly warning: string | undefined,
  ) {}

  static open(dir: string): Journal {
    const file = path.join(dir, 'state.json');
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return new Journal(dir, structuredClone(EMPTY), undefined);
    }
    try {
      const state = JSON.parse(text) as State;
      if (state.version !== 1 || typeof state.targets !== 'object') throw new Error('unknown format');
      state.source = state.source ?? { commit: null, attempted: [] };
      return new Journal(dir, state, undefined);
    } catch (error) {
      // Unreadable state means unknown state: every target gets a full pass, which is always safe.
      return new Journal(dir, structuredClone(EMPTY), `${file} is unreadable (${String(error)}); every target is treated as unknown`);
    }
  }

  target(name: string): TargetState | undefined {
    return this.state.targets[name];
  }

  /** Apply a change to the state and persist it; calls are serialized in order. */
  update(change: (state: State) => void): Promise<void> {
    const next = this.writes.then(() => {
      change(this.state);
      writeAtomically(path.join(this.dir, 'state.json'), `${JSON.stringify(this.state, null, 2)}\n`);
    });
    this.writes = next.catch(() => undefined);
    return next;
  }

  appendHistory(entry: HistoryEntry): void {
    ensureDir(this.dir);
    const file = path.join(this.dir, 'history.ndjson');
    const fd = fs.openSync(file, 'a', 0o600);
    try {
      fs.writeSync(fd, `${JSON.stringify(entry)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  readHistory(): HistoryEntry[] {
    return readHistory(this.dir);
  }
}

export function readHistory(dir: string): HistoryEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, 'history.ndjson'), 'utf8');
  } catch {
    return [];
  }
  const entries: HistoryEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      entries.push(JSON.parse(line) as HistoryEntry);
    } catch {
      // a line torn by a crash mid-append: the deploy it described never finished recording
    }
  }
  return entries;
}

export function ensureDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

export function writeAtomically(file: string, text: string): void {
  ensureDir(path.dirname(file));
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dirFd = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}
