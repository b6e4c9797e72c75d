import path from 'node:path';
import { deploy, type DeployRequest } from '../../deploy/deploy.js';
import type { Context } from '../../engine/context.js';
import { accountName, describeIdentity, identify, oneLine, pushOptions } from '../../deploy/identity.js';
import { FanoutError } from '../../base/errors.js';
import { ZERO_COMMIT } from '../../base/git.js';
import type { HistoryEntry } from '../../engine/journal.js';
import { recordRefusedPush } from '../refused-push.js';
import { configPath, exitFor, session, type Session } from '../session.js';

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
 * `fanout hook post-receive`: what git runs after every push, with the pushed refs on stdin.
 * The pusher may hang up (Ctrl-C, dropped ssh) mid-deploy: the deploy carries on to the end and
 * its record goes to the log; writes to the vanished pusher are dropped.
 */
export async function runPostReceiveHook(configOption: string | undefined, json: boolean): Promise<void> {
  process.on('SIGHUP', () => undefined);
  process.on('SIGINT', () => undefined);
  process.on('SIGPIPE', () => undefined);
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  const refs = parsePushedRefs(await readStdin());
  const configFile = configPath(configOption);
  let s: Session;
  try {
    s = session(configFile, json);
  } catch (error) {
    if (!(error instanceof FanoutError)) throw error;
    await refuseWithoutConfig(configFile, refs, error);
    return;
  }
  const entry = await onPostReceive(s, refs);
  s.reporter.finish();
  process.exitCode = exitFor(entry);
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
