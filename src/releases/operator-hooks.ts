import type { Target } from '../base/config.js';
import { targetHost } from './checks.js';
import { childEnvironment, firstLine, run } from '../base/exec.js';
import type { Commit } from '../base/git.js';
import type { Reason } from '../engine/journal.js';
import type { Context } from '../engine/context.js';

export type HookName = 'before' | 'afterSwitch' | 'after' | 'onFailure';

/** What a hook is told of the deploy: in its environment (FANOUT_*) and as JSON on its stdin. */
export interface HookFacts {
  deployId: number;
  commit: Commit;
  reason: Reason;
  startedBy: string;
  /** the person behind the deploy, and why they made it (git push -o message=...) */
  user?: string;
  message?: string;
  targets: readonly string[];
  /** afterSwitch: the target, its host and its slot */
  target?: { name: string; host: string; slot: string | undefined };
  /** after: ok or failed */
  outcome?: 'ok' | 'failed';
}

export function hookEnvironment(hook: HookName, facts: HookFacts): Record<string, string> {
  const env: Record<string, string> = {
    FANOUT_HOOK: hook,
    FANOUT_DEPLOY_ID: String(facts.deployId),
    FANOUT_COMMIT: facts.commit,
    FANOUT_REASON: facts.reason,
    FANOUT_STARTED_BY: facts.startedBy,
    FANOUT_TARGETS: facts.targets.join(' '),
  };
  // both checked where they entered (deploy/identity.ts): a short plain name, one bounded line
  if (facts.user !== undefined) env.FANOUT_USER = facts.user;
  if (facts.message !== undefined) env.FANOUT_MESSAGE = facts.message;
  if (facts.target !== undefined) {
    env.FANOUT_TARGET = facts.target.name;
    env.FANOUT_HOST = facts.target.host;
    env.FANOUT_SLOT = facts.target.slot ?? '';
  }
  if (facts.outcome !== undefined) env.FANOUT_OUTCOME = facts.outcome;
  return env;
}

/**
 * Run a configured hook (an argument array, no shell) with the deploy's facts, bounded by
 * hooks.timeout. Undefined when it passed or none is configured; else why it failed, in one line.
 */
export async function runHook(ctx: Context, hook: HookName, facts: HookFacts): Promise<string | undefined> {
  const command = ctx.config.hooks[hook];
  if (command === undefined) return undefined;
  const [program = '', ...args] = command;
  const timeoutMs = ctx.config.hooks.timeoutMs;
  const result = await run(program, args, { env: { ...childEnvironment(), ...hookEnvironment(hook, facts) }, input: `${JSON.stringify({ hook, ...facts })}\n`, timeoutMs, log: ctx.log });
  const said = firstLine(result.stderr).slice(0, 200);
  const failure = result.spawnError ?? (result.timedOut ? `did not finish within ${timeoutMs / 1000}s` : result.exitCode === 0 ? undefined : `exit ${result.exitCode}${said === '' ? '' : `: ${said}`}`);
  ctx.log[failure === undefined ? 'info' : 'warn']({ hook, target: facts.target?.name, failure }, 'hook');
  return failure === undefined ? undefined : `the ${hook} hook (${program}) failed: ${failure}`;
}

/** The afterSwitch hooks of one deploy: each target's, once. */
export interface AfterSwitch {
  /** the hook for a target that serves the release now, started at once (not awaited) */
  start(target: Target, slot: string | undefined): void;
  /** the hooks of these targets, those not yet started started now, all awaited: the failures by target */
  failures(targets: readonly { target: Target; slot: string | undefined }[]): Promise<Map<string, string>>;
}

/**
 * afterSwitch for each target as soon as it serves the release, not once the whole farm does: a
 * host whose switch answered must not wait for its php-fpm reload while a dead host's switch is
 * retried, for it serves the new files with the old code until then.
 */
export function afterSwitch(ctx: Context, facts: HookFacts): AfterSwitch {
  const started = new Map<string, Promise<string | undefined>>();
  const start = (target: Target, slot: string | undefined): void => {
    if (ctx.config.hooks.afterSwitch === undefined || started.has(target.name)) return;
    started.set(target.name, runHook(ctx, 'afterSwitch', { ...facts, target: { name: target.name, host: targetHost(target), slot } }));
  };
  return {
    start,
    async failures(targets) {
      for (const { target, slot } of targets) start(target, slot);
      const failures = new Map<string, string>();
      await Promise.all(
        targets.map(async ({ target }) => {
          const failed = await started.get(target.name);
          if (failed !== undefined) failures.set(target.name, failed);
        }),
      );
      return failures;
    },
  };
}
