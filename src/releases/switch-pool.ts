import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Target } from '../base/config.js';
import type { Context } from '../engine/context.js';
import { rsyncWithRetries } from '../engine/passes.js';
import { filesFromList } from '../transport/rsync-pass.js';
import { runRsync } from '../transport/rsync.js';
import { currentLink } from './link-dirs.js';

/**
 * The rsyncs that switch `current`, bounded whatever the size of the farm. A switch is one short
 * exchange once its rsync is connected (and, for a daemon, authenticated): an armed switch is
 * that rsync started ahead, waiting for its file list, so the farm changes version within
 * milliseconds. What costs is getting there: starting rsync, connecting, authenticating (about
 * 40 ms of CPU a target on the 2-core development machine, daemon side included), while giving
 * the word to an armed one costs well under a millisecond. So every switch is armed before any
 * goes, and the word goes once all are ready:
 * - a target's switch is armed once its own stage is over (one connection at a time to each
 *   target), if it is among the last `switchesAtOnce()` to finish staging;
 * - at the switch, the others are armed too, up to that bound; the word goes once every armed one
 *   is connected and waiting, or once none has become so for READY_QUIET_MS (a host that hangs
 *   on connect gets its word with the others and switches when it gets there);
 * - past the bound, the others follow with fresh rsyncs, each taking the place of an armed one
 *   that has answered: a host that answers late, or is retried, holds its own place and no other.
 * The bound is 1,024, or what the descriptor limit allows: each armed switch holds a process and
 * three descriptors in fanout, about 1 MB.
 */

/** Switch rsyncs at most at any moment, unless the descriptor limit allows fewer. */
export const SWITCHES_AT_ONCE = 1024;

/** The wait for the armed switches to be ready ends once none has become so for this long. */
export const READY_QUIET_MS = 2000;

/** The longest the answers' consequences wait for the burst of armed switches to be over (fireSwitches). */
const BURST_MS = 1000;

/** The bound on switch rsyncs: SWITCHES_AT_ONCE, or a quarter of the descriptors this process may open, less some for everything else. */
export function switchesAtOnce(limitsText = readLimits()): number {
  const open = /^Max open files\s+(\d+)/m.exec(limitsText)?.[1];
  if (open === undefined) return SWITCHES_AT_ONCE;
  return Math.max(16, Math.min(SWITCHES_AT_ONCE, Math.floor((Number(open) - 256) / 4)));
}

function readLimits(): string {
  try {
    return fs.readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return '';
  }
}

/** What one switch came to: when rsync answered (undefined: it failed, and why), and whether nothing on the target moved. */
export interface SwitchAnswer {
  at: number | undefined;
  error: string | undefined;
  untouched: boolean;
}

/** A switch of one target's `current`, its rsync started and connected, waiting for the word. */
export interface ArmedSwitch {
  target: Target;
  slot: string;
  /** settles once its rsync is connected and waiting for the word, or has ended (failed) */
  ready: Promise<void>;
  /** send it: resolves once its rsync has answered, or with `lost` if that rsync was gone (a fresh one must switch the target) */
  fire(): Promise<SwitchAnswer | Lost>;
  /** not switching after all: the waiting rsync is given an empty list and changes nothing */
  cancel(): void;
}

/** An armed switch whose rsync was gone when the word came (timed out waiting, refused by the daemon). */
export interface Lost {
  lost: true;
  /** nothing on the target moved */
  untouched: boolean;
}

/** The pass that points `current` at a slot: the symlink made in a scratch directory, sent as it is. */
function currentPass(ctx: Context, slot: string) {
  return { kind: 'links', from: currentLink(ctx.config, slot), names: ['current'] } as const;
}

/** A switch run now, with a fresh rsync, retried as the config says. */
export async function switchNow(ctx: Context, target: Target, slot: string): Promise<SwitchAnswer> {
  const result = await rsyncWithRetries(ctx, target, currentPass(ctx, slot), { dryRun: false, maxDelete: undefined });
  return result.outcome.ok ? { at: Date.now(), error: undefined, untouched: false } : { at: undefined, error: result.outcome.error ?? 'rsync failed', untouched: result.untouched };
}

/**
 * Start the rsync that will switch `current` on a target, before it is needed: it connects now and
 * waits for its file list. One that was lost while waiting (it timed out, or the daemon refused
 * it at its `max connections`) is replaced by a fresh one when fired.
 */
export function armSwitch(ctx: Context, target: Target, slot: string): ArmedSwitch {
  const { config, log } = ctx;
  const pass = currentPass(ctx, slot);
  let give: (list: Buffer) => void = () => undefined;
  const list = new Promise<Buffer>((resolve) => {
    give = resolve;
  });
  let connected: () => void = () => undefined;
  const waitingForList = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const waiting = runRsync({ config, target, pass, dryRun: false, log, rsyncPath: config.rsync.path, maxDelete: undefined, deferredInput: list, announceWaiting: true, onWaiting: connected });
  return {
    target,
    slot,
    ready: Promise.race([waitingForList, waiting.then(() => undefined)]),
    async fire() {
      give(filesFromList(pass));
      const outcome = await waiting;
      if (outcome.ok) return { at: Date.now(), error: undefined, untouched: false };
      log.warn({ target: target.name, error: outcome.error }, 'the waiting switch was lost; switching with a fresh rsync');
      return { lost: true, untouched: outcome.untouched };
    },
    cancel() {
      give(Buffer.alloc(0));
      void waiting;
    },
  };
}

/** A target whose `current` a deploy switches, and to which slot. */
export interface SwitchTo {
  target: Target;
  slot: string;
}

/**
 * The switches of one deploy, armed as the targets finish staging: a target's once its own stage
 * is over, and only if it is among the last `limit` to finish (those that finished earlier would
 * wait longest, past their timeout maybe). Told of every target that stages, in any order.
 */
export class SwitchesAhead {
  private readonly armed = new Map<string, ArmedSwitch>();
  /** the targets to switch that have not finished staging yet */
  private readonly staging: Map<string, SwitchTo>;

  constructor(
    private readonly ctx: Context,
    wanted: readonly SwitchTo[],
    private readonly limit = switchesAtOnce(),
    private readonly arm: typeof armSwitch = armSwitch,
  ) {
    this.staging = new Map(wanted.map((w) => [w.target.name, w]));
  }

  /** A target is done staging (`ok`: it has the release): its switch is armed if it is among the last to finish. */
  staged(name: string, ok: boolean): void {
    const wanted = this.staging.get(name);
    if (wanted === undefined) return;
    this.staging.delete(name);
    if (ok && this.staging.size < this.limit && this.armed.size < this.limit) this.armed.set(name, this.arm(this.ctx, wanted.target, wanted.slot));
  }

  /** The armed switch of a target, handed over to be fired; undefined when it has none. */
  take(name: string): ArmedSwitch | undefined {
    const armed = this.armed.get(name);
    this.armed.delete(name);
    return armed;
  }

  /** How many are armed and not yet handed over: they count against the bound until they are. */
  get size(): number {
    return this.armed.size;
  }

  /**
   * Up to `count` armed switches called off, those armed first (they have waited longest), so that
   * a wave switching now has room under the bound; theirs are armed again, or made afresh, at their own.
   */
  makeRoom(count: number): void {
    for (const [name, armed] of this.armed) {
      if (count <= 0) return;
      armed.cancel();
      this.armed.delete(name);
      count -= 1;
    }
  }

  /** Every switch still armed is called off: none must wait on its target until it times out. */
  cancel(): void {
    for (const armed of this.armed.values()) armed.cancel();
    this.armed.clear();
  }
}

/** How fireSwitches arms a switch and switches one afresh, and its bound: the rsyncs themselves, but in tests. */
export interface SwitchMakers {
  arm: typeof armSwitch;
  fresh: typeof switchNow;
  bound: number;
}

/** How fireSwitches is told of each answer as it comes, and what it fires with (the rsyncs themselves, but in tests). */
export interface FireOptions {
  /** each switch's answer, the moment it comes (its index in `switches`) */
  onAnswer?: (index: number, answer: SwitchAnswer) => void;
  makers?: SwitchMakers;
}

/**
 * Fire these switches: every one armed (those armed while their targets staged, topped up to the
 * bound with switches armed now), then, once they are ready, the word to all of them together, so
 * that up to the bound the targets change version within milliseconds of each other. Then the
 * others, and any armed one that was lost, by fresh rsyncs, each in the place of an armed one that
 * has answered: never more than the bound at once. Answers in the order given.
 */
export async function fireSwitches(ctx: Context, switches: readonly SwitchTo[], ahead: SwitchesAhead | undefined, options: FireOptions = {}): Promise<SwitchAnswer[]> {
  const { makers = { arm: armSwitch, fresh: switchNow, bound: switchesAtOnce() }, onAnswer } = options;
  const armed = switches.map((s) => ahead?.take(s.target.name));
  const taken = armed.filter((a) => a !== undefined).length;
  // switches armed ahead for a later wave of a rollout count too: this wave's come first
  const wanted = Math.min(switches.length, makers.bound) - taken;
  ahead?.makeRoom(wanted - (makers.bound - taken - ahead.size));
  let room = makers.bound - taken - (ahead?.size ?? 0);
  switches.forEach((s, i) => {
    if (armed[i] !== undefined || room <= 0) return;
    armed[i] = makers.arm(ctx, s.target, s.slot);
    room -= 1;
  });
  await untilReady(armed.flatMap((a) => (a === undefined ? [] : [a.ready])), READY_QUIET_MS);
  // the word, to every armed switch in one go; the lists are written before anything else starts
  const fired = armed.map((a) => a?.fire());
  const words = fired.filter((f) => f !== undefined);
  await new Promise((resolve) => setImmediate(resolve));
  const places = placesFor(Math.max(0, makers.bound - words.length - (ahead?.size ?? 0)));
  const afresh = (s: SwitchTo): Promise<SwitchAnswer> => places.use(() => makers.fresh(ctx, s.target, s.slot));
  const answerOf = async (s: SwitchTo, word: Promise<SwitchAnswer | Lost> | undefined): Promise<SwitchAnswer> => {
    if (word === undefined) return afresh(s);
    const answer = await word.finally(places.free);
    if (!('lost' in answer)) return answer;
    const again = await afresh(s);
    return { ...again, untouched: again.untouched && answer.untouched };
  };
  // The armed switches answer in a burst, the moment the farm changes version: what an answer sets
  // off (a journal note, an afterSwitch hook: a process each) waits until the burst is over, so as
  // not to hold the event loop then, but no longer than BURST_MS for a host that does not answer.
  const burst = Promise.race([Promise.allSettled(words), sleep(BURST_MS, undefined, { ref: false })]);
  return Promise.all(
    switches.map(async (s, i) => {
      const answer = await answerOf(s, fired[i]);
      await burst;
      onAnswer?.(i, answer);
      return answer;
    }),
  );
}

/** `free` places to run in; `use` waits for one, runs, and gives it back; `free()` adds one. */
function placesFor(free: number): { use: <T>(run: () => Promise<T>) => Promise<T>; free: () => void } {
  const waiting: (() => void)[] = [];
  const release = (): void => {
    const next = waiting.shift();
    if (next === undefined) free += 1;
    else next();
  };
  return {
    free: release,
    async use(run) {
      if (free > 0) free -= 1;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await run();
      } finally {
        release();
      }
    },
  };
}

/** Settles once all of `ready` have, or once none has for `quietMs`. */
export function untilReady(ready: readonly Promise<void>[], quietMs: number): Promise<void> {
  return new Promise((resolve) => {
    let pending = ready.length;
    if (pending === 0) {
      resolve();
      return;
    }
    let quiet = setTimeout(resolve, quietMs);
    for (const r of ready) {
      void r.then(() => {
        pending -= 1;
        clearTimeout(quiet);
        if (pending === 0) resolve();
        else quiet = setTimeout(resolve, quietMs);
      });
    }
  });
}
