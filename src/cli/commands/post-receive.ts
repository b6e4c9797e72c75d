import path from 'node:path';
import { deploy, type DeployRequest } from '../../deploy/deploy.js';
import type { Context } from '../../engine/context.js';
import { accountName, describeIdentity, identify, oneLine, pushOptions } from '../../deploy/identity.js';
import { FanoutError } from '../../base/errors.js';
import { ZERO_COMMIT, type Commit } from '../../base/git.js';
import { isDeploy, Journal, type HistoryEntry } from '../../engine/journal.js';
import { acquireLock, type Lock } from '../../engine/lock.js';
import { keepAcceptedBuild, pruneBuilds } from '../../build/build-commits.js';
import { clearAccepted } from '../../deploy/push-gate.js';
import { recordRefusedPush } from '../refused-push.js';
import { loadStages } from '../../base/config.js';
import { configPath, exitFor, sessionOf, type Session } from '../session.js';

export interface PushedRef {
  oldCommit: string;
  newCommit: string;
  ref: string;
}

/** post-receive's stdin: one "<old> <new> <ref>" line per updated ref. */
export function parsePushedRefs(stdin: string): PushedRef[] {
  const refs: PushedRef[] = [];
  for (const line of stdin.split('\n')) {
    const [oldCommit, newCommit, ref] = line.trim().split(/\s+/);
    if (oldCommit === undefined || newCommit === undefined || ref === undefined) continue;
    refs.push({ oldCommit, newCommit, ref });
  }
  return refs;
}

/**
 * What the hook does with a push: only the configured branch deploys, and it deploys the branch
 * tip as it stands once the lock is held (a later push may have moved it; deploying the tip then
 * is what lets a burst of pushes coalesce: the pushes that waited meanwhile find the tip already
 * deployed and do nothing). Returns undefined when the push deploys nothing.
 */
export async function onPostReceive(ctx: Context, refs: readonly PushedRef[], env: NodeJS.ProcessEnv = process.env): Promise<HistoryEntry | undefined> {
  const branchRef = `refs/heads/${ctx.config.branch}`;
  let deploys = false;
  for (const pushed of refs) {
    if (pushed.ref !== branchRef) {
      ctx.reporter.note(`fanout: ignoring ${pushed.ref}: only ${branchRef} deploys`);
    } else if (ZERO_COMMIT.test(pushed.newCommit)) {
      ctx.reporter.note(`fanout: ${branchRef} was deleted; nothing deployed, the targets keep what they have`);
    } else {
      deploys = true;
    }
  }
  if (!deploys) return undefined;
  const { request, notes, refused } = pushRequest(env, accountName());
  for (const note of notes) ctx.reporter.note(`fanout: ${note}`);
  // what was refused, cleaned to a bounded line: the log is read by people and shippers alike
  if (refused) ctx.log.warn({ fanoutUser: oneLine(env.FANOUT_USER ?? '', 100), sudoUser: oneLine(env.SUDO_USER ?? '', 100), recordedAs: request.user }, 'a name given for the pusher was refused');
  return deploy(ctx, request, { dryRun: false, targets: [], full: false, coalesce: true });
}

/**
 * A push's deploy request (pure): the person behind it (the name the pusher's ssh key set, else
 * sudo's, else the account) and the message its push options carry; a note for each thing given
 * and not taken, for the pusher.
 */
export function pushRequest(env: NodeJS.ProcessEnv, account: string): { request: DeployRequest; notes: string[]; refused: boolean } {
  const who = identify(env, account);
  const options = pushOptions(env);
  const notes = [...who.notes.map((note) => `warning: ${note}`), ...options.ignored.map((option) => `ignoring push option "${option}": fanout takes only message=TEXT (git push -o message="why")`)];
  const request: DeployRequest = { revision: { kind: 'tip' }, reason: 'push', startedBy: `git push by ${describeIdentity(who)}`, user: who.user, ...(options.message === undefined ? {} : { message: options.message }) };
  return { request, notes, refused: who.notes.length > 0 };
}

/** Who a push is recorded as having been made by, when its deploy is refused before it has a config. */
function pushedBy(): string {
  return pushRequest(process.env, accountName()).request.startedBy;
}

/**
 * `fanout hook post-receive`: what git runs after every push, with the pushed refs on stdin. With
 * push: post-receive it deploys the push; with push: pre-receive the deploy has run already, and
 * this finishes what git would not let it do before accepting the push.
 */
export async function runPostReceiveHook(configOption: string | undefined, json: boolean): Promise<void> {
  const pushed = await hookSession(configOption, json);
  if (pushed === undefined) return;
  let exitCode = 0;
  for (const [s, refs] of pushesByStage(pushed.sessions, pushed.refs)) {
    if (s.config.pushMode === 'pre-receive') {
      await finishAcceptedPush(s, refs);
      continue;
    }
    const entry = await onPostReceive(s, refs);
    s.reporter.finish();
    exitCode = Math.max(exitCode, exitFor(entry));
  }
  process.exitCode = exitCode;
}

/**
 * Which stage each pushed ref is for: a config without stages takes every ref (and says which
 * ones it ignores); with stages, each stage takes the pushes to its branch, in the config's
 * order, and a ref no stage deploys is named once.
 */
export function pushesByStage(sessions: readonly Session[], refs: readonly PushedRef[]): [Session, PushedRef[]][] {
  const [first] = sessions;
  if (first === undefined) return [];
  if (first.config.stage === undefined) return [[first, [...refs]]];
  const branches = sessions.map((s) => s.config.branch).filter((b) => b !== undefined).map((b) => `refs/heads/${b}`);
  for (const pushed of refs.filter((r) => !branches.includes(r.ref))) first.reporter.note(`fanout: ignoring ${pushed.ref}: only ${branches.join(', ')} deploy (one stage each)`);
  return sessions
    .map((s): [Session, PushedRef[]] => [s, refs.filter((r) => s.config.branch !== undefined && r.ref === `refs/heads/${s.config.branch}`)])
    .filter(([s, mine]) => {
      if (mine.length > 0) s.reporter.note(`fanout: stage ${s.config.stage ?? ''}: ${mine.map((r) => r.ref).join(', ')}`);
      return mine.length > 0;
    });
}

/**
 * What both hooks begin with: the pushed refs from stdin and a session for each farm (each stage,
 * or the one farm). The pusher may hang up (Ctrl-C, a dropped ssh) mid-deploy: the hook carries
 * on to the end, writes to the vanished pusher dropped. A config that cannot be loaded refuses
 * the push; undefined then.
 */
export async function hookSession(configOption: string | undefined, json: boolean): Promise<{ sessions: Session[]; refs: PushedRef[] } | undefined> {
  process.on('SIGHUP', () => undefined);
  process.on('SIGINT', () => undefined);
  process.on('SIGPIPE', () => undefined);
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  const refs = parsePushedRefs(await readStdin());
  const configFile = configPath(configOption);
  try {
    return { sessions: loadStages(configFile).map((config) => sessionOf(config, json)), refs };
  } catch (error) {
    if (!(error instanceof FanoutError)) throw error;
    await refuseWithoutConfig(configFile, refs, error);
    return undefined;
  }
}

/**
 * push: pre-receive, once git has accepted the push and moved the branch: the deploy's build kept
 * by its ref and old builds pruned (git writes no ref before it accepts), and the mark that held
 * the next push back (push-gate.ts) gone. The pruning is left to the next push while a deploy runs.
 */
async function finishAcceptedPush(s: Session, refs: readonly PushedRef[]): Promise<void> {
  const pushed = refs.find((r) => r.ref === `refs/heads/${s.config.branch}` && !ZERO_COMMIT.test(r.newCommit));
  if (pushed === undefined) return;
  clearAccepted(s.config, pushed.newCommit as Commit);
  if (s.config.build === undefined) return;
  const journal = Journal.open(s.config.stateDir);
  const deployed = journal.readHistory().findLast((e) => e.reason === 'push' && e.build?.source === pushed.newCommit && e.error === undefined && isDeploy(e));
  if (deployed?.build !== undefined) await keepAcceptedBuild(s, { source: deployed.build.source, commit: deployed.commit });
  let lock: Lock;
  try {
    lock = await acquireLock(s.config.stateDir, 0, 'pruning builds after a push', s.log);
  } catch {
    return;
  }
  try {
    const state = Journal.open(s.config.stateDir).state;
    await pruneBuilds(s, s.config.build.keep, state, journal.readHistory());
  } finally {
    lock.release();
  }
}

/**
 * The config cannot be loaded (or its state directory used): the pusher sees the line at once, as
 * any error's, then the refusal is recorded where the farm's history can be found without a
 * config (refused-push.ts). git runs the hook in the repository (GIT_DIR).
 */
async function refuseWithoutConfig(configFile: string, refs: readonly PushedRef[], error: FanoutError): Promise<void> {
  process.stderr.write(`fanout: ${error.message.replace(/\n/g, '\\n')}\n`);
  process.exitCode = error.exitCode;
  const warning = await recordRefusedPush(configFile, refs, error.message, pushedBy(), path.resolve(process.env.GIT_DIR ?? '.'));
  if (warning !== undefined) process.stderr.write(`fanout: warning: ${warning}\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
