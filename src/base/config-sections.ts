import path from 'node:path';
import { parseDest, type Dest } from './dest.js';
import { errorMessage } from './errors.js';
import type { Fail, RawConfig, RawTarget } from './config-schema.js';
import type { Build, Checks, Config, Hooks, Layout, Rollout, SshOptions, Target } from './config.js';

// Each section of a config the schema let through, made into its part of Config: paths resolved
// against the config's directory, seconds made milliseconds, a target's defaults taken from the
// top level. Then the rules that span sections. Pure: no file is read (loadConfig checks the
// files a config names). A problem is reported through `fail`, the first one found.

/** A path the config names, resolved against the config file's directory. */
export type Resolve = (file: string) => string;

/** Where pushes arrive and which branch deploys, where it is checked out, where fanout keeps its state. */
export function normalizePlaces(c: RawConfig, abs: Resolve, staged = false): Pick<Config, 'repo' | 'branch' | 'source' | 'stateDir'> {
  const repo = abs(c.repo);
  // a stage without a branch is only promoted into; a farm without stages deploys main by default
  return { repo, branch: c.branch ?? (staged ? undefined : 'main'), source: abs(c.source), stateDir: c.stateDir === undefined ? path.join(repo, 'fanout') : abs(c.stateDir) };
}

type RunSettings = Pick<Config, 'exclude' | 'protect' | 'concurrency' | 'timeout' | 'retries' | 'retryDelay' | 'lockTimeout' | 'maxDelete' | 'owner' | 'switchQuorum' | 'pushMode'>;

/** The top-level settings of every run, as they are (`switch` becomes switchQuorum, a percentage; `push` pushMode). */
export function normalizeRunSettings(c: RawConfig): RunSettings {
  return {
    exclude: c.exclude,
    protect: c.protect,
    concurrency: c.concurrency,
    timeout: c.timeout,
    retries: c.retries,
    retryDelay: c.retryDelay,
    lockTimeout: c.lockTimeout,
    maxDelete: c.maxDelete,
    owner: c.owner,
    switchQuorum: switchQuorum(c.switch),
    pushMode: c.push,
  };
}

/** `switch:` as the share of the farm, in percent, that must have staged before anyone switches: all is 100, available 0. */
function switchQuorum(words: RawConfig['switch']): number {
  if (words === 'all') return 100;
  if (words === 'available') return 0;
  return Number(words.slice(0, -1));
}

/** targets, in the order given: one target's problems (a name already taken, its dest, its fields) are reported before the next one's. */
export function normalizeTargets(c: RawConfig, abs: Resolve, fail: Fail): Target[] {
  const names = new Set<string>();
  return c.targets.map((t, i) => {
    const where = `targets[${i}]`;
    if (names.has(t.name)) fail(`${where}.name`, `duplicate target name "${t.name}"`);
    names.add(t.name);
    return normalizeTarget(t, where, c, abs, fail);
  });
}

/** One target: its dest parsed, what it leaves unset taken from the top level (timeout, layout, checks.url). */
function normalizeTarget(t: RawTarget, where: string, c: RawConfig, abs: Resolve, fail: Fail): Target {
  const dest = targetDest(t, where, fail);
  checkTarget(t, dest, where, c.checks, fail);
  return {
    name: t.name,
    dest,
    layout: targetLayout(t.layout ?? c.layout, c),
    checkUrl: t.checkUrl ?? c.checks?.url,
    passwordFile: t.passwordFile === undefined ? undefined : abs(t.passwordFile),
    timeout: t.timeout ?? c.timeout,
    ssh: normalizeSsh(t.ssh, abs),
    zone: t.zone,
  };
}

function targetDest(t: RawTarget, where: string, fail: Fail): Dest {
  try {
    return parseDest(t.dest);
  } catch (error) {
    return fail(`${where}.dest`, errorMessage(error));
  }
}

/** What a target's fields must agree on: the kind of its dest, and the top-level checks. */
function checkTarget(t: RawTarget, dest: Dest, where: string, checks: RawConfig['checks'], fail: Fail): void {
  if (t.passwordFile !== undefined && dest.kind !== 'daemon') fail(`${where}.passwordFile`, 'only rsync daemon targets (host::module) use a password file');
  if (dest.kind === 'daemon' && dest.user !== undefined && t.passwordFile === undefined)
    fail(`${where}.passwordFile`, `required for ${t.dest}: rsync would otherwise wait for a password typed at a terminal`);
  if (t.ssh !== undefined && dest.kind !== 'ssh') fail(`${where}.ssh`, 'only ssh targets (host:/path) take ssh options');
  if (t.checkUrl !== undefined && checks === undefined) fail(`${where}.checkUrl`, 'set checks: (status, body, ...) too: a URL alone checks nothing');
}

/** layout, slots, slotGrace and shared: how one target's dest holds the site. */
function targetLayout(layout: RawConfig['layout'], c: RawConfig): Layout {
  return layout === 'slots' ? { kind: 'slots', count: c.slots, graceMs: c.slotGrace * 1000, shared: c.shared } : { kind: 'in-place' };
}

/** A target's ssh options, its key and known_hosts files resolved; host keys checked unless it says otherwise. */
export function normalizeSsh(ssh: RawTarget['ssh'], abs: Resolve): SshOptions {
  return {
    port: ssh?.port,
    identityFile: ssh?.identityFile === undefined ? undefined : abs(ssh.identityFile),
    knownHostsFile: ssh?.knownHostsFile === undefined ? undefined : abs(ssh.knownHostsFile),
    strictHostKeyChecking: ssh?.strictHostKeyChecking ?? true,
  };
}

/** checks: none unless configured; seconds made milliseconds. */
export function normalizeChecks(checks: RawConfig['checks']): Checks | undefined {
  if (checks === undefined) return undefined;
  return {
    url: checks.url,
    status: checks.status,
    body: checks.body,
    command: checks.command,
    timeoutMs: checks.timeout * 1000,
    retries: checks.retries,
    retryDelayMs: checks.retryDelay * 1000,
    settleMs: checks.settle * 1000,
  };
}

/** build: none unless configured. */
export function normalizeBuild(build: RawConfig['build']): Build | undefined {
  if (build === undefined) return undefined;
  return { command: build.command, output: build.output, env: build.env, timeoutMs: build.timeout * 1000, cache: build.cache, keep: build.keep };
}

/** hooks: each one unset unless configured; the timeout always (60 s by default). */
export function normalizeHooks(hooks: RawConfig['hooks']): Hooks {
  return { before: hooks?.before, afterSwitch: hooks?.afterSwitch, after: hooks?.after, onFailure: hooks?.onFailure, timeoutMs: (hooks?.timeout ?? 60) * 1000 };
}

/** rollout: without one, every target in one wave, rolled back on failure. */
export function normalizeRollout(rollout: RawConfig['rollout']): Rollout {
  return { canary: rollout?.canary, batch: rollout?.batch, pauseMs: (rollout?.pause ?? 0) * 1000, onFailure: rollout?.onFailure ?? 'rollback' };
}

/** metrics: the textfile resolved; the farm label, unless set, the repository's name without .git. */
export function normalizeMetrics(metrics: RawConfig['metrics'], repo: string, abs: Resolve): Config['metrics'] {
  return { textfile: metrics?.textfile === undefined ? undefined : abs(metrics.textfile), farm: metrics?.farm ?? path.basename(repo).replace(/\.git$/, '') };
}

/** page: off unless configured; its directory resolved. */
export function normalizePage(page: RawConfig['page'], abs: Resolve): Config['page'] {
  return { dir: page === undefined ? undefined : abs(page.dir) };
}

/** checks without a command fetch a URL: every target needs one, its own or checks.url. */
export function checkEveryTargetChecked(checks: RawConfig['checks'], targets: readonly Target[], fail: Fail): void {
  if (checks === undefined || checks.command !== undefined) return;
  const unchecked = targets.find((t) => t.checkUrl === undefined);
  if (unchecked !== undefined) fail('checks', `nothing to check ${unchecked.name} with: give checks.url (or the target's checkUrl) or checks.command`);
}

/** A rollout's canary names configured targets, and checks gate each wave. */
export function checkRollout(rollout: RawConfig['rollout'], checks: RawConfig['checks'], targets: readonly Target[], fail: Fail): void {
  if (Array.isArray(rollout?.canary)) {
    const names = targets.map((t) => t.name);
    const unknown = rollout.canary.find((n) => !names.includes(n));
    if (unknown !== undefined) fail('rollout.canary', `no target named "${unknown}"; configured: ${names.join(', ')}`);
  }
  if (rollout !== undefined && checks === undefined) fail('rollout', 'a rollout is gated by checks: add checks: (url or command)');
}
