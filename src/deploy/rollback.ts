import type { Commit } from '../base/git.js';
import { isDeploy, type HistoryEntry } from '../engine/journal.js';

/**
 * The deploy stack, from the history: every deploy puts its commit on top (unless it is on top
 * already), a rollback without a revision takes the top off, and a rollback to a revision goes
 * back down to it if it is on the stack, else puts it on top (an automatic rollback after a failed
 * check is a rollback too). So after deploys A, B, C, rollback
 * gives B, and a second rollback gives A, however many commits lie between them in git. A deploy
 * that failed before writing any target (its entry has an error), or was refused, is not on the stack.
 */
export function deployStack(history: readonly HistoryEntry[]): Commit[] {
  const stack: Commit[] = [];
  for (const entry of history) {
    // a dry run, a refusal, or a deploy that failed before any target was written, deployed nothing;
    // a rejected push's commit is gone from the repository (its targets were put back)
    if (entry.dryRun === true || entry.error !== undefined || entry.pushRejected === true || !isDeploy(entry)) continue;
    if (entry.reason === 'rollback' || entry.reason === 'auto-rollback') {
      const at = stack.lastIndexOf(entry.commit);
      if (at !== -1) {
        stack.length = at + 1;
        continue;
      }
    }
    if (stack.at(-1) !== entry.commit) stack.push(entry.commit);
  }
  return stack;
}

/** The commit `fanout rollback` without a revision deploys, or undefined when there is none. */
export function previousDeploy(history: readonly HistoryEntry[]): Commit | undefined {
  const stack = deployStack(history);
  return stack.at(-2);
}
