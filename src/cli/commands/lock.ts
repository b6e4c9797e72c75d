import { loadStages } from '../../base/config.js';
import { whoAmI } from '../../deploy/deploy.js';
import { MESSAGE_MAX, oneLine } from '../../deploy/identity.js';
import { FanoutError } from '../../base/errors.js';
import { describeFreeze, readFreeze, removeFreeze, writeFreeze, type Freeze } from '../../engine/freeze.js';
import type { GlobalArgs } from '../global-options.js';
import { writeJson } from '../print.js';
import { configSearch, sessionFor, sessionOf, type Session } from '../session.js';

/** The farms a lock command works on: the --stage one (or the only one), or with --all-stages every stage. */
function farmsFor(args: GlobalArgs & { 'all-stages': boolean }): Session[] {
  if (!args['all-stages']) return [sessionFor(args)];
  if (args.stage !== undefined) throw new FanoutError('--all-stages and --stage name different things: give one');
  const origin = configSearch(args.config);
  return loadStages(origin.file, origin).map((config) => sessionOf(config, args.json));
}

/** "deploys are locked ..." or, with stages, "deploys to stage production are locked ..." */
function deploysOf(s: Session): string {
  return s.config.stage === undefined ? 'deploys' : `deploys to stage ${s.config.stage}`;
}

/**
 * `fanout lock -m "why"`: the deploy lock (engine/freeze.ts). Taking it again while it is taken is
 * refused, naming whose it is: a second freeze would hide the first one's reason. With
 * --all-stages every stage is locked, or none is.
 */
export async function runLock(args: GlobalArgs & { message: string; 'all-stages': boolean }): Promise<void> {
  const farms = farmsFor(args);
  const reason = oneLine(args.message, MESSAGE_MAX);
  if (reason === '') throw new FanoutError('fanout lock needs a reason: fanout lock -m "incident 42: hands off"');
  for (const s of farms) {
    const held = readFreeze(s.config.stateDir);
    if (held !== undefined) throw new FanoutError(`${deploysOf(s)} are already ${describeFreeze(held)}; fanout unlock first to take it with another reason`, 1);
  }
  const freeze: Freeze = { by: whoAmI(), reason, since: new Date().toISOString() };
  for (const s of farms) {
    writeFreeze(s.config.stateDir, freeze);
    s.log.warn({ lock: freeze }, 'deploy lock taken');
    for (const warning of await s.publish()) process.stderr.write(`fanout: warning: ${warning}\n`);
  }
  if (args.json) writeJson({ ok: true, lock: freeze, stages: farms.map((s) => s.config.stage).filter((name) => name !== undefined) });
  else for (const s of farms) process.stdout.write(`${deploysOf(s)} are ${describeFreeze(freeze)}\n`);
  if (!args.json) process.stdout.write('every push and deploy is refused until: fanout unlock\n');
}

/** `fanout unlock`: lifts the deploy lock; saying so, and whose it was, when there was one. */
export async function runUnlock(args: GlobalArgs & { 'all-stages': boolean }): Promise<void> {
  const me = whoAmI();
  const lifted: { stage: string | undefined; was: Freeze | null }[] = [];
  for (const s of farmsFor(args)) {
    const held = readFreeze(s.config.stateDir);
    const removed = removeFreeze(s.config.stateDir);
    if (removed) s.log.warn({ lock: held, by: me }, 'deploy lock lifted');
    for (const warning of await s.publish()) process.stderr.write(`fanout: warning: ${warning}\n`);
    lifted.push({ stage: s.config.stage, was: removed ? (held ?? null) : null });
    if (!args.json) process.stdout.write(removed && held !== undefined ? `lifted the deploy lock (it was ${describeFreeze(held)}); ${deploysOf(s)} go out again\n` : `${deploysOf(s)} were not locked; nothing to lift\n`);
  }
  if (args.json) writeJson({ ok: true, lifted: lifted.length === 1 ? lifted[0]?.was : lifted });
}
