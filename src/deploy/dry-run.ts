import pMap from 'p-map';
import { targetNamed } from '../base/config.js';
import { decideTransfers } from './deploy-plan.js';
import { FanoutError } from '../base/errors.js';
import type { HistoryEntry, TargetOutcome } from '../engine/journal.js';
import { displayPath } from '../base/paths.js';
import { parentOf, type SyncPlan } from '../engine/sync-plan.js';
import { passesOf, runPasses } from '../engine/passes.js';
import type { Context } from '../engine/context.js';
import { stagingOf, writtenTarget } from '../releases/slots.js';
import { askPreflights, assertNoForeignSymlink } from './apply.js';
import { historyEntry, outcomeBase, type PlannedDeploy, type Started } from './record.js';

// A dry run renders the plan and the decisions instead of applying them, so it cannot disagree
// with the real run.

/**
 * A dry run: the same plan and the same decisions as the real run, rendered. With the source at
 * the commit, rsync lists what each pass would do (--dry-run); with the source elsewhere, rsync
 * cannot be asked and the plan itself is listed.
 */
export async function renderDryRun(ctx: Context, plan: PlannedDeploy, started: Started): Promise<HistoryEntry> {
  const { config } = ctx;
  const sourceReady = plan.source === undefined;
  if (sourceReady) await assertNoForeignSymlink(ctx, plan);
  const decision = decideTransfers(plan, sourceReady ? await askPreflights(ctx, plan) : new Map(), config, true);
  if (decision.refusal !== undefined) throw new FanoutError(decision.refusal);
  // quiet: a dry run's lines are its listing
  ctx.reporter.progress({ kind: 'phase', name: 'dry run', targets: plan.targets.map((t) => t.name), quiet: true });
  const outcomes = await pMap(
    plan.targets,
    async (target): Promise<TargetOutcome> => {
      const failure = decision.failures.get(target.name);
      const slot = target.slots?.stage?.slot ?? target.slots?.switchTo;
      const base = { ...outcomeBase(target), ...(slot === undefined ? {} : { slot }) };
      let outcome: TargetOutcome;
      if (failure !== undefined) outcome = { ...base, status: 'failed', ...failure };
      else if (target.sync.kind === 'none') outcome = { ...base, status: 'ok' };
      else if (!sourceReady) outcome = { ...base, status: 'ok', ...planItems(target.sync) };
      else {
        const configured = targetNamed(config, target.name);
        const run = await runPasses(ctx, writtenTarget(configured, target), passesOf(target.sync), { dryRun: true, maxDelete: plan.maxDelete, staging: stagingOf(configured, target) });
        outcome = { ...base, ...run.totals, status: run.failure === undefined ? 'ok' : 'failed', ...(run.failure === undefined ? {} : { error: run.failure }) };
      }
      ctx.reporter.progress({ kind: 'finished', target: target.name, ok: outcome.status === 'ok' });
      ctx.reporter.targetDone(outcome);
      return outcome;
    },
    { concurrency: config.concurrency },
  );
  return historyEntry(started, plan.commit, outcomes, { dryRun: true });
}

/** What a plan does, listed as rsync itemizes it, for a dry run that cannot ask rsync. */
function planItems(sync: Exclude<SyncPlan, { kind: 'none' }>): Pick<TargetOutcome, 'sent' | 'deleted' | 'items'> {
  if (sync.kind === 'full') return { sent: 0, deleted: 0, items: [`a full pass (${sync.why}): every file, and deletion of whatever the commit lacks`] };
  const directories = new Set(sync.sends.map(parentOf));
  const items = [...sync.sends.filter((p) => !directories.has(p)).map((p) => `>f          ${displayPath(p)}`), ...sync.removals.map((p) => `*deleting   ${displayPath(p)}`)];
  return { sent: sync.changed, deleted: sync.deleted, items };
}
