import { accountName, describeIdentity, identify, MESSAGE_MAX, oneLine } from '../../deploy/identity.js';
import { FanoutError } from '../../base/errors.js';
import { describeFreeze, readFreeze, removeFreeze, writeFreeze, type Freeze } from '../../engine/freeze.js';
import type { GlobalArgs } from '../global-options.js';
import { writeJson } from '../print.js';
import { sessionFor } from '../session.js';

/**
 * `fanout lock -m "why"`: the deploy lock (engine/freeze.ts). Taking it again while it is taken is
 * refused, naming whose it is: a second freeze would hide the first one's reason.
 */
export async function runLock(args: GlobalArgs & { message: string }): Promise<void> {
  const s = sessionFor(args);
  const reason = oneLine(args.message, MESSAGE_MAX);
  if (reason === '') throw new FanoutError('fanout lock needs a reason: fanout lock -m "incident 42: hands off"');
  const held = readFreeze(s.config.stateDir);
  if (held !== undefined) throw new FanoutError(`deploys are already ${describeFreeze(held)}; fanout unlock first to take it with another reason`, 1);
  const me = identify(process.env, accountName());
  const freeze: Freeze = { by: describeIdentity(me), reason, since: new Date().toISOString() };
  writeFreeze(s.config.stateDir, freeze);
  s.log.warn({ lock: freeze }, 'deploy lock taken');
  for (const warning of await s.publish()) process.stderr.write(`fanout: warning: ${warning}\n`);
  if (args.json) writeJson({ ok: true, lock: freeze });
  else process.stdout.write(`deploys are ${describeFreeze(freeze)}\nevery push and deploy is refused until: fanout unlock\n`);
}

/** `fanout unlock`: lifts the deploy lock; saying so, and whose it was, when there was one. */
export async function runUnlock(args: GlobalArgs): Promise<void> {
  const s = sessionFor(args);
  const held = readFreeze(s.config.stateDir);
  const lifted = removeFreeze(s.config.stateDir);
  const me = describeIdentity(identify(process.env, accountName()));
  if (lifted) s.log.warn({ lock: held, by: me }, 'deploy lock lifted');
  for (const warning of await s.publish()) process.stderr.write(`fanout: warning: ${warning}\n`);
  if (args.json) writeJson({ ok: true, lifted: held ?? null });
  else process.stdout.write(lifted && held !== undefined ? `lifted the deploy lock (it was ${describeFreeze(held)}); deploys go out again\n` : 'deploys were not locked; nothing to lift\n');
}
