import { deploy, type Revision } from '../../deploy/deploy.js';
import { accountName, describeIdentity, identify, MESSAGE_MAX, oneLine } from '../../deploy/identity.js';
import { FanoutError } from '../../base/errors.js';
import { Journal, type Reason } from '../../engine/journal.js';
import { targetsToSync } from '../../observe/status.js';
import type { GlobalArgs } from '../global-options.js';
import { writeJson } from '../print.js';
import { exitFor, sessionFor, type Session } from '../session.js';

/** `fanout deploy`, `rollback` and `sync`: one deploy each, told apart by the revision, the reason and the targets. */

export interface DeployArgs extends GlobalArgs {
  'dry-run': boolean;
  full: boolean;
  force: boolean;
  'allow-empty': boolean;
  'max-delete': number | undefined;
  'override-lock': boolean;
  message: string | undefined;
}

/** `fanout deploy [REV]`: REV, else the branch tip. */
export function runDeploy(args: DeployArgs & { rev: string | undefined }): Promise<void> {
  return deployWith(sessionFor(args), args, args.rev === undefined ? { kind: 'tip' } : { kind: 'rev', rev: args.rev }, 'manual', args.target);
}

/** `fanout rollback [REV]`: REV, else the deploy before the current one. */
export function runRollback(args: DeployArgs & { rev: string | undefined }): Promise<void> {
  return deployWith(sessionFor(args), args, args.rev === undefined ? { kind: 'previous' } : { kind: 'rev', rev: args.rev }, 'rollback', args.target);
}

/** `fanout sync`: the source as it stands, to the targets named, else (without --full) to those not ok. */
export async function runSync(args: DeployArgs): Promise<void> {
  const s = sessionFor(args);
  let targets = args.target;
  if (targets.length === 0 && !args.full) {
    const state = Journal.open(s.config.stateDir).state;
    targets = targetsToSync(
      s.config.targets.map((t) => t.name),
      state,
    );
    if (targets.length === 0) {
      if (args.json) writeJson({ ok: true, deploys: [], notes: ['every target has the current deploy; nothing to sync'] });
      else process.stdout.write('every target has the current deploy; nothing to sync (--full forces a full pass)\n');
      return;
    }
  }
  await deployWith(s, args, { kind: 'source' }, 'sync', targets);
}

/** --max-delete as a deploy takes it: a whole number of files, 1 or more, when given. */
export function maxDeleteOption(value: number | undefined): { maxDelete?: number } {
  if (value === undefined) return {};
  if (!Number.isInteger(value) || value < 1) throw new FanoutError('--max-delete takes a whole number of files, 1 or more');
  return { maxDelete: value };
}

/** One deploy as the command line asks for it, by the person running it (`how`: what the history adds to their name). */
export async function deployWith(s: Session, args: DeployArgs, revision: Revision, reason: Reason, targets: string[], how = ''): Promise<void> {
  const maxDelete = maxDeleteOption(args['max-delete']);
  const me = identify(process.env, accountName());
  for (const note of me.notes) s.reporter.note(`warning: ${note}`);
  const message = args.message === undefined ? '' : oneLine(args.message, MESSAGE_MAX);
  const entry = await deploy(
    s,
    { revision, reason, startedBy: `${describeIdentity(me)}${how}`, user: me.user, ...(message === '' ? {} : { message }) },
    { dryRun: args['dry-run'], targets, full: args.full, force: args.force, allowEmpty: args['allow-empty'], overrideLock: args['override-lock'], ...maxDelete },
  );
  s.reporter.finish();
  process.exitCode = exitFor(entry);
}
