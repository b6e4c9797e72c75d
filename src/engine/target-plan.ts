import type { Commit } from '../base/git.js';
import type { RsyncPass } from '../transport/rsync-pass.js';
import type { SyncPlan } from './sync-plan.js';

/** One target's part of a deploy. */
export interface TargetPlan {
  name: string;
  /** the commit it last received completely */
  from: Commit | null;
  sync: SyncPlan;
  /** the pass rsync is asked about as a dry run before anything runs on this target (see preflightPass) */
  preflight: RsyncPass | undefined;
  /** an earlier attempt at this commit was cut short on it (its failure then leaves it untraceable) */
  alreadyAttempted: boolean;
  /** whether it already holds the commit completely */
  upToDate: boolean;
  /** layout: slots: which slot is written (`sync` is its pass) and which one `current` is switched to */
  slots: SlotStep | undefined;
}

/** A target with layout: slots, this deploy: the slot it writes, if any, and the one `current` ends on. */
export interface SlotStep {
  /** the slot written, and not before when (its grace); undefined: a slot already holds the commit */
  stage: {
    slot: string;
    notBefore: number | undefined;
    /** for a full pass: the tree on the host unchanged files are copied from (see seedFor) */
    seedFrom: string | undefined;
    /** for a paths pass: the live slot, from which a file it already holds is copied on the host instead of sent */
    copyFrom: string | undefined;
    link: boolean;
  } | undefined;
  /** the slot `current` is switched to, once every target has staged; undefined: it points there already */
  switchTo: string | undefined;
  /** a switch cut short: `current` is pinned to this (complete) slot before anything is staged */
  repair: string | undefined;
}
