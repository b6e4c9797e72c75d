import { deploy, whoAmI, type Context } from '../../deploy/deploy.js';
import { ZERO_COMMIT } from '../../base/git.js';
import type { HistoryEntry } from '../../engine/journal.js';
import { configPath, exitFor, session } from '../session.js';

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
export async function onPostReceive(ctx: Context, refs: readonly PushedRef[]): Promise<HistoryEntry | undefined> {
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
  return deploy(ctx, { revision: { kind: 'tip' }, reason: 'push', startedBy: `git push (${whoAmI()})` }, { dryRun: false, targets: [], full: false, coalesce: true });
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
  const s = session(configFile, json);
  const entry = await onPostReceive(s, refs);
  s.reporter.finish();
  process.exitCode = exitFor(entry);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
