import { loadConfig } from '../../base/config.js';
import { promotable } from '../../deploy/promote.js';
import { Journal } from '../../engine/journal.js';
import { deployWith, type DeployArgs } from './deploy.js';
import { configSearch, sessionOf } from '../session.js';

/** `fanout promote FROM TO`: TO's targets get what FROM serves, through the same engine as every deploy. */
export async function runPromote(args: DeployArgs & { from: string; to: string }): Promise<void> {
  const origin = configSearch(args.config);
  const from = loadConfig(origin.file, origin, args.from);
  const s = sessionOf(loadConfig(origin.file, origin, args.to), args.json);
  const commit = promotable(from, Journal.open(from.stateDir).state);
  await deployWith(s, args, { kind: 'rev', rev: commit }, 'promote', args.target, `, from stage ${args.from}`);
}
