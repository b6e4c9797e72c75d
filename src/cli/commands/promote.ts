import { loadConfig } from '../../base/config.js';
import { deploy } from '../../deploy/deploy.js';
import { accountName, describeIdentity, identify, MESSAGE_MAX, oneLine } from '../../deploy/identity.js';
import { promotable } from '../../deploy/promote.js';
import { Journal } from '../../engine/journal.js';
import { maxDeleteOption, type DeployArgs } from './deploy.js';
import { configSearch, exitFor, sessionOf } from '../session.js';

/** `fanout promote FROM TO`: TO's targets get what FROM serves, through the same engine as every deploy. */
export async function runPromote(args: DeployArgs & { from: string; to: string }): Promise<void> {
  const origin = configSearch(args.config);
  const from = loadConfig(origin.file, origin, args.from);
  const s = sessionOf(loadConfig(origin.file, origin, args.to), args.json);
  const commit = promotable(from, Journal.open(from.stateDir).state);
  const me = identify(process.env, accountName());
  for (const note of me.notes) s.reporter.note(`warning: ${note}`);
  const message = args.message === undefined ? '' : oneLine(args.message, MESSAGE_MAX);
  const entry = await deploy(
    s,
    { revision: { kind: 'rev', rev: commit }, reason: 'promote', startedBy: `${describeIdentity(me)}, from stage ${args.from}`, user: me.user, ...(message === '' ? {} : { message }) },
    { dryRun: args['dry-run'], targets: args.target, full: args.full, force: args.force, allowEmpty: args['allow-empty'], overrideLock: args['override-lock'], ...maxDeleteOption(args['max-delete']) },
  );
  s.reporter.finish();
  process.exitCode = exitFor(entry);
}
