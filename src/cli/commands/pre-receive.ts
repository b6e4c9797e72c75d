import { deploy } from '../../deploy/deploy.js';
import { accountName, oneLine } from '../../deploy/identity.js';
import { pushSucceeded, rejectionLine } from '../../deploy/push-gate.js';
import { FanoutError } from '../../base/errors.js';
import { refusesNonFastForward, ZERO_COMMIT, type Commit } from '../../base/git.js';
import { Journal } from '../../engine/journal.js';
import type { Context } from '../../engine/context.js';
import { hookSession, pushesByStage, pushRequest, type PushedRef } from './post-receive.js';
import type { Session } from '../session.js';

/** What git is told of a push: accept it, or reject it with the one line the pusher reads last. */
export type Verdict = { accept: true } | { accept: false; line: string };

/**
 * `fanout hook pre-receive` (push: pre-receive): the push deploys before git accepts it, from the
 * pushed objects git holds in quarantine, and git accepts it only when the deploy succeeded by the
 * config's rule; so `git push` fails when the deploy did, and the branch on the update server
 * always names what the farm serves.
 */
export async function runPreReceiveHook(configOption: string | undefined, json: boolean): Promise<void> {
  const pushed = await hookSession(configOption, json);
  if (pushed === undefined) return;
  const [first] = pushed.sessions;
  if (first === undefined) return;
  if (first.config.pushMode !== 'pre-receive') {
    first.reporter.note(`fanout: this pre-receive hook is left from push: pre-receive, but ${first.config.file} says push: post-receive: the push goes through, and the post-receive hook deploys it (fanout init removes this hook)`);
    return;
  }
  const verdict = await judgePush(pushesByStage(pushed.sessions, pushed.refs));
  if (!verdict.accept) {
    process.stderr.write(`fanout: ${verdict.line}\n`);
    process.exitCode = 1;
  }
}

/**
 * A push judged stage by stage. One that moves the branches of two stages at once is rejected
 * untouched: git takes or rejects a push whole, and the first stage's deploy could not be undone
 * if the second's failed.
 */
async function judgePush(stages: readonly [Session, PushedRef[]][]): Promise<Verdict> {
  if (stages.length > 1) return { accept: false, line: `push rejected: it moves the branches of stages ${stages.map(([s]) => s.config.stage ?? '').join(' and ')} at once; push them one at a time (with push: pre-receive each push is judged by its one stage's deploy)` };
  const [only] = stages;
  if (only === undefined) return { accept: true };
  const [s, refs] = only;
  const verdict = await onPreReceive(s, refs);
  s.reporter.finish();
  return verdict;
}

/**
 * A push judged by its deploy. Only the configured branch deploys: its own pushed commit, not the
 * branch tip (git has not moved it yet), and never coalesced with another push, which git would
 * reject anyway once this one moved the branch. Deleting the branch is refused: it would name
 * nothing while the farm serves a release.
 */
export async function onPreReceive(ctx: Context, refs: readonly PushedRef[], env: NodeJS.ProcessEnv = process.env): Promise<Verdict> {
  const branchRef = `refs/heads/${ctx.config.branch}`;
  for (const pushed of refs.filter((r) => r.ref !== branchRef)) ctx.reporter.note(`fanout: ${pushed.ref} goes through as it is: only ${branchRef} deploys`);
  const pushed = refs.find((r) => r.ref === branchRef);
  if (pushed === undefined) return { accept: true };
  if (ZERO_COMMIT.test(pushed.newCommit))
    return { accept: false, line: `refusing to delete ${branchRef}: with push: pre-receive it names what the farm serves (push another commit to deploy it, or set push: post-receive)` };
  const { request, notes, refused } = pushRequest(env, accountName());
  for (const note of notes) ctx.reporter.note(`fanout: ${note}`);
  if (refused) ctx.log.warn({ fanoutUser: oneLine(env.FANOUT_USER ?? '', 100), sudoUser: oneLine(env.SUDO_USER ?? '', 100), recordedAs: request.user }, 'a name given for the pusher was refused');
  const gated = { old: ZERO_COMMIT.test(pushed.oldCommit) ? null : (pushed.oldCommit as Commit), pushed: pushed.newCommit as Commit };
  // git would refuse it only after this hook, with the farm already on it
  if (gated.old !== null && (await refusesNonFastForward(ctx.config.repo, gated.old, gated.pushed))) {
    return { accept: false, line: `push rejected: ${branchRef} would not move forward (a force push), and this repository refuses that (receive.denyNonFastForwards); nothing was deployed` };
  }
  try {
    const entry = await deploy(ctx, { ...request, revision: { kind: 'rev', rev: pushed.newCommit } }, { dryRun: false, targets: [], full: false, gated });
    if (entry === undefined || pushSucceeded(ctx.config, entry)) return { accept: true };
    return { accept: false, line: rejectionLine(entry, Journal.open(ctx.config.stateDir).state) };
  } catch (error) {
    if (!(error instanceof FanoutError)) throw error;
    ctx.log.warn({ commit: pushed.newCommit, refused: error.message }, 'push rejected before its deploy');
    return { accept: false, line: `push rejected: ${error.message}` };
  }
}
