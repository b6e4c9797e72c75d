import type { Config } from '../base/config.js';
import type { Commit } from '../base/git.js';
import type { State, TargetOutcome } from '../engine/journal.js';
import { upToDate } from '../engine/state.js';
import type { TargetPlan } from '../engine/target-plan.js';

/**
 * Whether the farm switches once the targets have staged (`switch:`), decided from plain data.
 * One rule for every policy: a share of the farm must have the release (staged, or serving it
 * already) before anyone switches. `all` is 100%: one target that failed keeps the farm on one
 * version. `available` is 0%: those that staged switch, whoever failed. `"99%"` between: at or
 * above the share, those that staged switch and the others lag (not switched, still serving
 * their old release, caught up by `fanout sync` or the next deploy); below it, nobody switches.
 */

/** The policy as the config spells it: `all`, `available`, or the share (`99%`). */
export function switchPolicyName(quorum: number): string {
  if (quorum >= 100) return 'all';
  if (quorum <= 0) return 'available';
  return `${quorum}%`;
}

/** Where the farm stands when the targets have staged. */
export interface StagedFarm {
  /** staged, to switch now */
  ready: readonly string[];
  /** failed before the switch: to stage or to take the release at all */
  missing: readonly string[];
  /** have the release without a switch: their `current` points at it already, or they hold it in place, in this deploy or outside it */
  serving: number;
}

/**
 * The farm once the targets of a deploy have staged (those written in place too, in a deploy
 * without checks): each of the deploy's targets by its outcome so far (none yet: not counted, as
 * a target a rollout writes in place in its wave), and the targets outside the deploy that serve
 * the commit already (a sync catching up one target counts the farm that has the release).
 */
export function stagedFarm(config: Pick<Config, 'targets'>, state: Pick<State, 'targets'>, plans: readonly TargetPlan[], outcomes: ReadonlyMap<string, TargetOutcome>, commit: Commit): StagedFarm {
  const ready: string[] = [];
  const missing: string[] = [];
  let serving = 0;
  for (const p of plans) {
    const outcome = outcomes.get(p.name);
    if (outcome === undefined) continue;
    if (outcome.status === 'failed') missing.push(p.name);
    else if (p.slots?.switchTo !== undefined) ready.push(p.name);
    else serving += 1;
  }
  const inDeploy = new Set(plans.map((p) => p.name));
  for (const t of config.targets) if (!inDeploy.has(t.name) && upToDate(state.targets[t.name], commit)) serving += 1;
  return { ready, missing, serving };
}

export interface SwitchDecision {
  /** the share `switch:` asks for is reached: those ready switch */
  reached: boolean;
  /** the share of the farm that has the release, in percent (100 when nothing is asked of anyone) */
  share: number;
  /** the ready targets that switch now */
  switching: readonly string[];
  /** staged and not switched: the share was not reached */
  held: readonly string[];
  /** missing, while the others switch: they serve what they served until they catch up */
  lagging: readonly string[];
}

/**
 * The decision: those ready switch when `ready + serving` is at least `quorum` percent of
 * `ready + serving + missing`; else they are held. Counted in whole targets, so that `99%` of 100
 * targets lets one lag and of 50 lets none.
 */
export function decideSwitch(quorum: number, farm: StagedFarm): SwitchDecision {
  const have = farm.ready.length + farm.serving;
  const total = have + farm.missing.length;
  const share = total === 0 ? 100 : (have * 100) / total;
  // have/total >= quorum/100, in integers where it can be: 99.5% of 200 is 199, not 198.99...
  const reached = total === 0 || have * 100 >= quorum * total - 1e-9;
  if (!reached) return { reached, share, switching: [], held: [...farm.ready], lagging: [] };
  return { reached, share, switching: [...farm.ready], held: [], lagging: [...farm.missing] };
}

/** Why the staged targets were held, for each of them: who failed (`failed`: how they did) and what the policy asks. */
export function heldWhy(quorum: number, decision: SwitchDecision, missing: readonly string[], how = 'failed'): string {
  const failed = `${missing.join(', ')} ${how}`;
  if (quorum >= 100) return `${failed}, and switch: all keeps the farm on one version`;
  return `${failed}, so ${formatShare(decision.share)} of the farm has the release, short of the ${quorum}% that switch: ${quorum}% asks for`;
}

/** The line a deploy ends its switch with when some targets lag. */
export function laggingNote(lagging: readonly string[]): string {
  return `not switched: ${lagging.join(', ')} (they serve what they served; fanout sync catches them up)`;
}

function formatShare(share: number): string {
  return `${Number.isInteger(share) ? share : share.toFixed(1)}%`;
}
