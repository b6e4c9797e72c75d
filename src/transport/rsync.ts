import { run } from '../base/exec.js';
import { ItemCounter, MAX_DELETE_STOP, type ItemizedCounts } from './itemize.js';
import type { Logger } from '../base/log.js';
import { rsyncArgs, rsyncInput, type RsyncArgsInput } from './rsync-args.js';
import { targetFromRelay, type RelayHop } from './relay.js';
import { announcedRsync } from './relay-watch.js';
import { sshRunning } from './ssh.js';
import { exitMeaning, failedBeforeTransfer, failureMessage, isRetryable } from './rsync-failure.js';

// Running rsync: one pass against one target, its itemized output counted as it comes, its exit
// code and stderr turned into the operator's sentence. The arguments are built in rsync-args.ts,
// the output read in itemize.ts, the failures worded in rsync-failure.ts, ssh's in ssh.ts.

/** What one rsync run did, and if it failed, why in the operator's words. */
export interface RsyncOutcome {
  exitCode: number;
  ok: boolean;
  /** the operator's sentence for a failure, from the exit-code table and rsync's own words */
  error: string | undefined;
  retryable: boolean;
  /** it failed before anything could be transferred: the target is exactly as it was */
  untouched: boolean;
  sent: number;
  /** files and directories deleted, as --max-delete counts them */
  deleted: number;
  bytes: number;
  /** rsync's itemized lines (`>f+++++++++ path`, `*deleting   path`): what was, or would be, done */
  items: string[];
  durationMs: number;
  /** a directory rsync could not replace by a file because protected or excluded content stays in it */
  blockedBy: string | undefined;
  /** what rsync's --debug=FILTER said it protected (local receivers only: a daemon caps debug output) */
  protectedNames: string[];
}

export interface RunRsyncInput extends RsyncArgsInput {
  log: Logger;
  rsyncPath: string;
  /** keep the itemized lines (dry runs, verify) */
  keepItems?: boolean;
  /** called as files go by, for a progress line */
  onProgress?: (counts: ItemizedCounts) => void;
  /** the pass's file list, given later: rsync starts and connects now, and waits for it (see exec) */
  deferredInput?: Promise<Buffer>;
  /** run on a relay, from its copy of the release, instead of here (relay.ts) */
  hop?: RelayHop | undefined;
  /** with announceWaiting: called once rsync is connected and about to read its deferred file list */
  onWaiting?: () => void;
}

/** The program and arguments of one pass: rsync here, or ssh running rsync on a relay. */
function invocation(input: RunRsyncInput): { command: string; args: string[] } {
  const { hop } = input;
  if (hop === undefined) return { command: input.rsyncPath, args: rsyncArgs(input) };
  const args = rsyncArgs({ ...input, config: { ...input.config, source: hop.release }, target: targetFromRelay(input.target, hop) });
  return sshRunning(hop.ssh, announcedRsync(args));
}

export async function runRsync(input: RunRsyncInput): Promise<RsyncOutcome> {
  const { command, args } = invocation(input);
  const counts = new ItemCounter(input.keepItems === true);
  // rsync's own --timeout bounds a silent peer, but not a frozen one (base/stall.ts): fanout
  // watches a local rsync here, and one a relay runs there (relay-watch.ts)
  const stallSeconds = Math.ceil(input.target.timeout) + 1;
  const relayed = input.hop?.watch.pass(input.target.name, stallSeconds * 1000);
  const onLine = (line: string): void => {
    if (relayed?.announced(line) === true) return;
    counts.add(line);
    input.onProgress?.(counts);
  };
  let spawned: { pid: number | undefined; at: number } | undefined;
  const onSpawn = (pid: number | undefined): void => {
    spawned = { pid, at: performance.now() };
  };
  const onOutput = input.onWaiting === undefined ? undefined : whenListWanted(input.onWaiting);
  // Through a relay, the process here is an ssh client riding the master's connection, which
  // hands its streams to the master and reads and writes nothing itself: its counters never move.
  const stallMs = relayed === undefined ? stallSeconds * 1000 : undefined;
  const ran = await run(command, args, { log: input.log, input: rsyncInput(input.pass) ?? '', deferredInput: input.deferredInput, onLine, onOutput, onSpawn, stallMs });
  relayed?.stop();
  logLifetime(input, ran.exitCode, spawned);
  // a relay's rsync judged stalled just as it ended well is no stall
  const stalled = ran.stalled || (relayed?.stalled === true && ran.exitCode !== 0);
  const result = stalled ? { ...ran, exitCode: 30 } : ran;
  const maxDeleteStop = counts.maxDeleteStop ?? result.stderr.split('\n').find((l) => MAX_DELETE_STOP.test(l))?.trim();
  const ok = result.exitCode === 0 && maxDeleteStop === undefined;
  const error = ok
    ? undefined
    : stalled
      ? `${exitMeaning(30)} (nothing from the target for ${stallSeconds}s: its rsync is frozen or gone; fanout stopped the transfer)`
      : maxDeleteStop !== undefined
        ? `rsync stopped deleting at --max-delete=${input.maxDelete ?? '?'}, so files the commit removed are still served there (${maxDeleteStop}); check the commit, then: fanout deploy --max-delete N`
        : failureMessage(result, input.target);
  const through = input.hop === undefined || error === undefined ? '' : ` (sent through relay ${input.hop.relay})`;
  return {
    items: counts.lines,
    exitCode: result.exitCode,
    ok,
    error: error === undefined ? undefined : `${error}${through}`,
    retryable: !ok && isRetryable(result.exitCode, result.stderr),
    untouched: !ok && (result.spawnError !== undefined || failedBeforeTransfer(result.exitCode, result.stderr)),
    sent: counts.sent,
    deleted: counts.deleted,
    bytes: counts.bytes,
    durationMs: result.durationMs,
    blockedBy: /^could not make way for (?:new )?[\w ]+?: (.+)$/m.exec(result.stderr)?.[1]?.trim(),
    protectedNames: counts.protectedNames,
  };
}

/**
 * Calls `then` once rsync's stdout says it starts its file list (announceWaiting), which it writes
 * without ending the line: `building file list ... `, or `sending incremental file list` where the
 * operator's rsync.args recurse.
 */
function whenListWanted(then: () => void): (chunk: Buffer) => void {
  let seen = '';
  let told = false;
  return (chunk) => {
    if (told) return;
    seen = (seen + chunk.toString('latin1')).slice(-64);
    if (!/building file list|sending incremental file list/.test(seen)) return;
    told = true;
    then();
  };
}

/**
 * One line per rsync: its target, its pass, when it started and how long it lived (from its start
 * to fanout seeing it exit). What fanout spends around each rsync is read from these beside the
 * `target done` lines (bench/lab/overhead.ts).
 */
function logLifetime(input: RunRsyncInput, exitCode: number, spawned: { pid: number | undefined; at: number } | undefined): void {
  if (spawned === undefined) return;
  const lifetimeMs = performance.now() - spawned.at;
  input.log.info({ target: input.target.name, pass: input.pass.kind, dryRun: input.dryRun, rsyncPid: spawned.pid, exitCode, startedAt: Math.round((performance.timeOrigin + spawned.at) * 10) / 10, lifetimeMs: Math.round(lifetimeMs * 10) / 10 }, 'rsync');
}
