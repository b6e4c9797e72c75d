import { setTimeout as sleep } from 'node:timers/promises';
import type { Target } from '../base/config.js';
import { afterLeftovers, rsyncPasses, type SyncPlan } from './sync-plan.js';
import type { RsyncPass } from '../transport/rsync-pass.js';
import type { RsyncArgsInput } from '../transport/rsync-args.js';
import { runRsync, type RsyncOutcome } from '../transport/rsync.js';
import type { Context } from './context.js';
import type { Amount } from './progress.js';

// Running a target's rsync passes, retried as the config says: what the engine's apply, its dry
// runs and the slots' stage and switch share.

export interface PassOptions {
  dryRun: boolean;
  maxDelete: number | undefined;
  /** writing a slot nothing serves (see RsyncArgsInput) */
  staging?: RsyncArgsInput['staging'];
}

/** The rsync passes a plan runs: the send then the prune of a paths plan, or one full pass. */
export function passesOf(sync: Exclude<SyncPlan, { kind: 'none' }>): RsyncPass[] {
  return sync.kind === 'paths' ? rsyncPasses(sync) : [{ kind: 'full', checksum: sync.checksum, sweep: sync.sweep }];
}

/**
 * One pass, retried as the config says when its connection fails; the last attempt's outcome. An
 * attempt that failed after it may have written on the receiver makes the rest of the pass one
 * that removes what it left (afterLeftovers): the outcome is ok only once that has run too.
 */
export async function rsyncWithRetries(
  ctx: Context,
  target: Target,
  pass: RsyncPass,
  options: PassOptions & { extra?: string[]; keepItems?: boolean; onProgress?: (sent: Amount) => void },
): Promise<{ outcome: RsyncOutcome; attempts: number; durationMs: number; untouched: boolean; via?: string | undefined }> {
  const { config, log } = ctx;
  let durationMs = 0;
  // true until an rsync gets past the daemon's greeting: then files may have moved
  let untouched = true;
  // an attempt failed after it may have written on the receiver
  let cutShort = false;
  let current = pass;
  for (let attempt = 1; ; attempt += 1) {
    // a links pass (the switch, the revision file) is made here, from a scratch directory: never relayed
    const hop = current.kind === 'links' ? undefined : ctx.routes?.hopFor(target.name);
    const outcome = await runRsync({
      config,
      target,
      pass: current,
      dryRun: options.dryRun,
      log,
      rsyncPath: config.rsync.path,
      maxDelete: options.maxDelete,
      extra: options.extra,
      staging: options.staging,
      keepItems: options.keepItems,
      onProgress: (counts) => options.onProgress?.({ files: counts.sent, bytes: counts.bytes }),
      hop,
    });
    durationMs += outcome.durationMs;
    // 255: ssh's own failure, the relay's or (for an ssh target) the relay's ssh to it: the connection is asked which
    if (hop !== undefined && outcome.exitCode === 255 && (await ctx.routes?.relayLost(hop)) === true) {
      // the relay went with its rsync, which may have written: the pass goes again another way, as one cut short
      untouched = false;
      cutShort ||= !options.dryRun;
      if (!options.dryRun) current = afterLeftovers(pass).retry;
      attempt -= 1;
      continue;
    }
    untouched &&= outcome.untouched;
    cutShort ||= !outcome.ok && !outcome.untouched;
    const repair = cutShort && !options.dryRun ? afterLeftovers(pass) : undefined;
    if (outcome.ok && repair?.then !== undefined) {
      log.info({ target: target.name, pass: repair.then.kind }, 'an earlier attempt was cut short on the target: removing what it left');
      const swept = await rsyncWithRetries(ctx, target, repair.then, { ...options, onProgress: undefined });
      return { outcome: swept.outcome.ok ? outcome : swept.outcome, attempts: attempt + swept.attempts, durationMs: durationMs + swept.durationMs, untouched: false, via: swept.via };
    }
    if (outcome.ok || !outcome.retryable || attempt > config.retries) return { outcome, attempts: attempt, durationMs, untouched, via: hop?.relay };
    if (repair !== undefined) current = repair.retry;
    const delay = config.retryDelay * 1000 * 2 ** (attempt - 1);
    log.warn({ target: target.name, attempt, error: outcome.error, retryInMs: delay }, 'rsync failed; retrying');
    await sleep(delay);
  }
}

/** What a target's passes did, summed; stopped at the first that failed. */
export interface PassesRun {
  totals: { sent: number; deleted: number; bytes: number; durationMs: number; attempts: number; items: string[] };
  failure: string | undefined;
  /** no rsync got past the daemon's greeting: nothing on the target changed */
  untouched: boolean;
  /** the relay the last pass ran on; undefined: sent directly */
  via?: string | undefined;
}

export async function runPasses(ctx: Context, target: Target, passes: readonly RsyncPass[], options: PassOptions): Promise<PassesRun> {
  const totals = { sent: 0, deleted: 0, bytes: 0, durationMs: 0, attempts: 0, items: [] as string[] };
  let untouched = true;
  let via: string | undefined;
  for (const pass of passes) {
    const before = { files: totals.sent, bytes: totals.bytes };
    const result = await rsyncWithRetries(ctx, target, pass, {
      ...options,
      keepItems: options.dryRun,
      onProgress: (sent) => {
        ctx.reporter.progress({ kind: 'sent', target: target.name, sent: { files: before.files + sent.files, bytes: before.bytes + sent.bytes } });
      },
    });
    // a retried pass re-sends what an attempt cut short already sent: count the last attempt only
    totals.sent += result.outcome.sent;
    totals.deleted += result.outcome.deleted;
    totals.bytes += result.outcome.bytes;
    totals.items.push(...result.outcome.items);
    totals.durationMs += result.durationMs;
    totals.attempts += result.attempts;
    untouched &&= result.untouched;
    via = result.via;
    if (!result.outcome.ok) return { totals, failure: result.outcome.error ?? 'rsync failed', untouched, via };
  }
  return { totals, failure: undefined, untouched, via };
}

