import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import * as v from 'valibot';
import { FanoutError } from '../base/errors.js';
import type { Commit } from '../base/git.js';
import { currentUid, openOwnFile, userName } from '../base/trust.js';

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

/** What the source holds: a tree like a target's, and whether its journal was lost. */
export interface SourceHolding extends Holding {
  /**
   * The journal was unreadable or invalid: nothing says what the source holds, and files no
   * commit has may be in it. The next checkout rewrites it whole, removing what the commit lacks.
   */
  untraceable?: boolean;
  /** why the last checkout into it failed; cleared by the next one that succeeds */
  error?: string;
}

/** A tree fanout writes and records: a target written in place, or one release slot of a target. */
export interface TreeState extends Holding {
  at: string | null;
  status: 'ok' | 'failed';
  error?: string;
  /**
   * Paths changed in the source outside git (seen by watch) that this tree may lack: a watch
   * batch notes them before sending and clears them when the tree has them; any later sync of
   * it sends them again.
   */
  dirty?: string[];
}

/** One release directory of a target with layout: slots (`slots/NAME` under its dest). */
export interface SlotState extends TreeState {
  /** when it stopped being live: nothing is staged into it for slotGrace after that */
  retiredAt?: string;
  /** the shared paths linked into it, as `shared` said when they were linked */
  linked?: string[];
}

/**
 * What fanout knows of one target. With layout: slots, `commit`, `at`, `status` and `dirty` say
 * what the target serves (its live slot) and how its last deploy went; `slots` what each release
 * directory holds, `live` which one `current` points to.
 */
export interface TargetState extends TreeState {
  slots?: Record<string, SlotState>;
  /** the slot `current` points to; null: none yet */
  live?: string | null;
  /**
   * A switch of `current` to this slot was begun and not seen to finish (fanout killed during it):
   * `current` points to it or to `live`, both complete. The next deploy switches again.
   */
  switching?: string;
  /**
   * The farm switched to `commit` without it (switch: a share, or available): it failed to stage
   * or to switch, and still serves its live slot. Gone once it switches; `since` is the first time.
   */
  lagging?: { commit: Commit; since: string };
}

export interface State {
  version: 1;
  nextDeployId: number;
  /** the commit the latest deploy aimed at: what "ok" in `fanout status` means */
  current: { commit: Commit; deployId: number; at: string } | null;
  /** what `source` holds, kept like a target's so the next checkout writes only what changed */
  source: SourceHolding;
  targets: Record<string, TargetState>;
  /** deploys so far by "reason outcome" (dry runs aside): the metrics' counters, which never go down */
  deploys?: Record<string, number>;
  /**
   * The last release a check failed on: sent to no more hosts (sync, a redeploy) until a deploy
   * of another commit, or one with --force. `source`: with build, the commit it was built from.
   */
  rejected?: { commit: Commit; source?: Commit; deployId: number; target: string; detail: string; at: string };
  /** The last deploy refused before anything was touched (bad input, maxDelete, a rejected release): the commit asked for, and the line its deployer saw */
  refused?: { commit: Commit; why: string; at: string };
  /** what each relay's release directory holds, by the relay's name (docs/guides/many-hosts.md): its next pass is planned from it */
  relays?: Record<string, Holding>;
}

export type Reason = 'push' | 'manual' | 'rollback' | 'sync' | 'watch' | 'auto-rollback' | 'promote';

export interface TargetOutcome {
  name: string;
  status: 'ok' | 'failed';
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
  /** layout: slots: the slot written or switched to */
  slot?: string;
  /** layout: slots: when `current` was switched to `slot` (undefined: not switched) */
  switchedAt?: string;
  /** the relay that sent it the release (docs/guides/many-hosts.md); undefined: the update server did */
  via?: string;
}

export interface HistoryEntry {
  id: number;
  startedAt: string;
  finishedAt: string;
  commit: Commit;
  subject: string;
  reason: Reason;
  startedBy: string;
  /** the person behind it: an ssh key's name, the user behind sudo, or the account (deploy/identity.ts) */
  user?: string;
  /** why this deploy, as the pusher said it (`git push -o message=...`): one line, bounded */
  message?: string;
  /** the operator's deploy lock (fanout lock) this deploy went through with --override-lock, as it read */
  overrodeLock?: string;
  /** push: pre-receive: the deploy failed, so git rejected its push and dropped the commit; on no rollback stack */
  pushRejected?: true;
  dryRun?: boolean;
  targets: TargetOutcome[];
  /** the deploy failed before any target: the checkout into the source, say */
  error?: string;
  /**
   * Refused before anything was touched (bad input, a config that cannot be loaded, more deletions
   * than maxDelete, a release a check failed on): the line its deployer saw. No deploy: it is on
   * no rollback stack and in no deploy counter; `targets` is empty.
   */
  refused?: string;
  /** layout: slots: the switch of `current` across the farm, from the first target to the last */
  switch?: {
    at: string;
    skewMs: number;
    switched: number;
    /** staged and not switched: the share `switch:` asks for was not reached */
    held: string[];
    /** not switched while the others did (switch: a share, or available): they serve what they served until caught up */
    lagging?: string[];
  };
  /** with build: the source commit this build commit was made from, and whether it was built now */
  build?: { source: Commit; reused: boolean; durationMs: number };
  /** with checks: the waves the release went out in, every check's result, and where it stopped */
  rollout?: {
    waves: string[][];
    checks: { target: string; wave: number; ok: boolean; detail: string; attempts: number; durationMs: number; at: string }[];
    stopped?: { wave: number; target: string; detail: string };
  };
}

/** Whether a history entry is a deploy, not a refusal: what the rollback stack, the counters and the last deploy count. */
export function isDeploy(entry: HistoryEntry): boolean {
  return entry.refused === undefined;
}

const EMPTY: State = { version: 1, nextDeployId: 1, current: null, source: { commit: null, attempted: [] }, targets: {} };

/**
 * How long a change recorded with `note` may wait for a write: the changes made meanwhile go in
 * the same one, so that a deploy to many targets writes its outcomes a few times, not once each.
 */
const NOTE_WAIT_MS = 1000;

/** A change applied to the state and not yet written: settled once a write holding it has landed. */
interface Waiting {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * The state journal: `state.json`, replaced atomically (write, fsync, rename) so a crash at any
 * point leaves either the old or the new document; `history.ndjson`, append-only, one deploy a
 * line, a torn last line skipped when read. One writer at a time is guaranteed by the deploy lock.
 *
 * Writes are group commits: a change is applied to the state at once, and is durable once a write
 * that began after it has landed. One write at a time; the changes made while one is under way go
 * in the next. `update` asks for that write now (a change the next step depends on: a transfer
 * begun before its rsync starts), `note` lets it wait for the next one, at most NOTE_WAIT_MS
 * (an outcome, awaited before it is reported), and `flush` writes what waits.
 */
export class Journal {
  private waiting: Waiting[] = [];
  /** a change waits whose write was asked for now */
  private urgent = false;
  /** the state holds changes no write has begun with (a failed write's too) */
  private unwritten = false;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly dir: string,
    public state: State,
    readonly warning: string | undefined,
  ) {}

  static open(dir: string): Journal {
    const file = path.join(dir, 'state.json');
    const text = readOwnFile(file);
    if (text === undefined) return new Journal(dir, structuredClone(EMPTY), undefined);
    const problem = stateProblem(text);
    if (problem.state !== undefined) return new Journal(dir, problem.state, undefined);
    // Nothing says what any tree holds, and a commit value could be anything: every target and the
    // source are untraceable. Full passes remove what the commit lacks, so no deletion is lost.
    const lost: State = { ...structuredClone(EMPTY), source: { commit: null, attempted: [], untraceable: true } };
    return new Journal(
      dir,
      lost,
      `${file} is not a valid journal (${problem.why}); the source and every target are treated as untraceable: each gets a full pass that removes what the commit lacks (protect and exclude kept)`,
    );
  }

  target(name: string): TargetState | undefined {
    return this.state.targets[name];
  }

  /** Apply a change to the state and write it now (after the write under way, if any); settles once it has landed. */
  update(change: (state: State) => void): Promise<void> {
    return this.apply(change, true);
  }

  /** Apply a change to the state, written with the next write (within NOTE_WAIT_MS); settles once it has landed. */
  note(change: (state: State) => void): Promise<void> {
    return this.apply(change, false);
  }

  /** Write every change not yet written; settles once all have landed. */
  flush(): Promise<void> {
    if (this.unwritten || this.waiting.length > 0) return this.apply(() => undefined, true);
    return this.inFlight ?? Promise.resolve();
  }

  private apply(change: (state: State) => void, now: boolean): Promise<void> {
    try {
      change(this.state);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    this.unwritten = true;
    const landed = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.urgent ||= now;
    this.schedule();
    return landed;
  }

  /** The next write: now when asked for, else once the oldest note has waited its time; never two at once. */
  private schedule(): void {
    if (this.inFlight !== undefined || this.waiting.length === 0) return;
    if (!this.urgent) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.urgent = true;
        this.schedule();
      }, NOTE_WAIT_MS);
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    this.urgent = false;
    this.unwritten = false;
    const batch = this.waiting.splice(0);
    const written = writeAtomicallyInBackground(path.join(this.dir, 'state.json'), `${JSON.stringify(this.state, null, 2)}\n`);
    this.inFlight = written;
    void written.then(
      () => {
        for (const w of batch) w.resolve();
      },
      (error: unknown) => {
        this.unwritten = true;
        for (const w of batch) w.reject(error);
      },
    ).finally(() => {
      this.inFlight = undefined;
      this.schedule();
    });
  }

  appendHistory(entry: HistoryEntry): void {
    ensureDir(this.dir);
    const fd = openOwnFile(path.join(this.dir, 'history.ndjson'), 'append');
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
  const text = readOwnFile(path.join(dir, 'history.ndjson'));
  if (text === undefined) return [];
  return parseHistoryLines(text.split('\n'));
}

function parseHistoryLines(lines: readonly string[]): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  for (const line of lines) {
    if (line.trim() === '') continue;
    try {
      entries.push(JSON.parse(line) as HistoryEntry);
    } catch {
      // a line torn by a crash mid-append: the deploy it described never finished recording
    }
  }
  return entries;
}

/**
 * The latest history entries, oldest first, from at most the last `maxBytes` of the history: what
 * a question about recent deploys needs, at a cost that does not grow with the history.
 */
export function readRecentHistory(dir: string, maxBytes: number): HistoryEntry[] {
  let fd: number;
  try {
    fd = openOwnFile(path.join(dir, 'history.ndjson'), 'read');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const start = Math.max(0, size - maxBytes);
    const buffer = Buffer.alloc(size - start);
    fs.readSync(fd, buffer, 0, buffer.length, start);
    const lines = buffer.toString('utf8').split('\n');
    // the first line read from the middle of the file is a part of one
    if (start > 0) lines.shift();
    return parseHistoryLines(lines);
  } finally {
    fs.closeSync(fd);
  }
}

export function ensureDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

export function writeAtomically(file: string, text: string, options: { mode?: number; makeDirectory?: boolean } = {}): void {
  const { mode = 0o600, makeDirectory = true } = options;
  if (makeDirectory) ensureDir(path.dirname(file));
  const tmp = `${file}.tmp-${process.pid}`;
  // made afresh (O_EXCL): whatever an earlier run, or anyone who can write the directory, left
  // under this name (a FIFO would block the open) is removed first
  fs.rmSync(tmp, { force: true });
  const fd = openOwnFile(tmp, 'create');
  try {
    try {
      // the mode asked for, whatever the umask
      fs.fchmodSync(fd, mode);
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (error) {
    // a full disk leaves no half-written file behind for the next reader to trip on
    fs.rmSync(tmp, { force: true });
    throw error;
  }
  const dirFd = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}

/**
 * writeAtomically, its waits for the disk (fsync of the file, then of its directory) off the
 * event loop: while the journal is written, the rsyncs already running are heard from.
 */
export async function writeAtomicallyInBackground(file: string, text: string): Promise<void> {
  ensureDir(path.dirname(file));
  const tmp = `${file}.tmp-${process.pid}`;
  fs.rmSync(tmp, { force: true });
  const fd = openOwnFile(tmp, 'create');
  try {
    try {
      fs.fchmodSync(fd, 0o600);
      fs.writeSync(fd, text);
      await fsync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
  const dirFd = fs.openSync(path.dirname(file), 'r');
  try {
    await fsync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}

const fsync = promisify(fs.fsync);

/**
 * A file of the state directory as text, read without following a symlink planted in its place;
 * undefined when there is none yet. One that exists but cannot be read is an error naming it, its
 * owner and the fix: read as "nothing recorded", it would send every target a full pass and
 * restart the deploy ids.
 */
export function readOwnFile(file: string): string | undefined {
  let fd: number;
  try {
    fd = openOwnFile(file, 'read');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === undefined) throw error;
    let owner = '';
    try {
      owner = ` (it belongs to ${userName(fs.lstatSync(file).uid)}; as root: chown ${userName(currentUid())} ${file})`;
    } catch {
      // no owner to name
    }
    throw new FanoutError(`${file} cannot be read (${code})${owner}`);
  }
  try {
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}

const sha = v.pipe(v.string(), v.regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, 'not a full commit id'));
const holding = { commit: v.nullable(sha), attempted: v.array(sha) };
const tree = { ...holding, at: v.nullable(v.string()), status: v.picklist(['ok', 'failed']), error: v.optional(v.string()), dirty: v.optional(v.array(v.string())) };
// a slot's name becomes a path on the target: digits only, whatever the journal says
const slotName = v.pipe(v.string(), v.regex(/^[1-9][0-9]?$/, 'not a slot name'));
const stateSchema = v.object({
  version: v.literal(1),
  nextDeployId: v.pipe(v.number(), v.integer(), v.minValue(1)),
  current: v.nullable(v.object({ commit: sha, deployId: v.pipe(v.number(), v.integer()), at: v.string() })),
  source: v.object({ ...holding, untraceable: v.optional(v.boolean()), error: v.optional(v.string()) }),
  targets: v.record(
    v.string(),
    v.object({
      ...tree,
      slots: v.optional(v.record(slotName, v.object({ ...tree, retiredAt: v.optional(v.string()), linked: v.optional(v.array(v.string())) }))),
      live: v.optional(v.nullable(slotName)),
      switching: v.optional(slotName),
      lagging: v.optional(v.object({ commit: sha, since: v.string() })),
    }),
  ),
  deploys: v.optional(v.record(v.string(), v.pipe(v.number(), v.integer(), v.minValue(0)))),
  rejected: v.optional(v.object({ commit: sha, source: v.optional(sha), deployId: v.pipe(v.number(), v.integer()), target: v.string(), detail: v.string(), at: v.string() })),
  refused: v.optional(v.object({ commit: sha, why: v.string(), at: v.string() })),
  relays: v.optional(v.record(v.string(), v.object(holding))),
});

/** The journal's text as a State, or why it is not one (torn, hand-edited, a commit that is not a sha). */
export function stateProblem(text: string): { state: State; why?: undefined } | { state?: undefined; why: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    return { why: `not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  const parsed = v.safeParse(stateSchema, raw);
  if (!parsed.success) {
    const [issue] = parsed.issues;
    const where = (issue.path ?? []).map((p) => String(p.key)).join('.');
    return { why: `${where === '' ? '' : `${where}: `}${issue.message}` };
  }
  return { state: parsed.output as State };
}
