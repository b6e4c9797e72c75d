import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { validateConfig, type Fail } from './config-schema.js';
import { parseDest, type Dest } from './dest.js';
import { FanoutError, errorMessage } from './errors.js';
import { assertTrusted, trustProblem } from './trust.js';

export { DEFAULT_WATCH_IGNORE, closestKey } from './config-schema.js';

export interface SshOptions {
  port: number | undefined;
  identityFile: string | undefined;
  knownHostsFile: string | undefined;
  strictHostKeyChecking: boolean;
}

/**
 * How a target's dest holds the site. in-place: the files themselves, written where they are
 * served. slots: `slots/1` .. `slots/N` release directories, a relative symlink `current` to the
 * live one, and `shared/` for the shared paths (see README, Atomic releases).
 */
export type Layout = { kind: 'in-place' } | { kind: 'slots'; count: number; graceMs: number; shared: readonly string[] };

export interface Target {
  name: string;
  dest: Dest;
  passwordFile: string | undefined;
  timeout: number;
  ssh: SshOptions;
  layout: Layout;
  /** the URL its checks fetch ({host} and {commit} expanded when checked) */
  checkUrl: string | undefined;
}

export interface Checks {
  url: string | undefined;
  status: number;
  body: string | undefined;
  command: string[] | undefined;
  timeoutMs: number;
  retries: number;
  retryDelayMs: number;
  settleMs: number;
}

export interface Build {
  command: string[] | string;
  output: string;
  env: Record<string, string>;
  timeoutMs: number;
  cache: string[];
  keep: number;
}

export interface Hooks {
  before: string[] | undefined;
  afterSwitch: string[] | undefined;
  after: string[] | undefined;
  onFailure: string[] | undefined;
  timeoutMs: number;
}

export interface Rollout {
  canary: number | string[] | undefined;
  batch: number | string | undefined;
  pauseMs: number;
  onFailure: 'rollback' | 'stop';
}

export interface Config {
  file: string;
  repo: string;
  branch: string;
  source: string;
  stateDir: string;
  targets: Target[];
  exclude: string[];
  protect: string[];
  concurrency: number;
  timeout: number;
  retries: number;
  retryDelay: number;
  lockTimeout: number;
  maxDelete: number | undefined;
  owner: boolean;
  /** with slots: switch only when every target staged (all), or those that did (available) */
  switchPolicy: 'all' | 'available';
  checks: Checks | undefined;
  revisionFile: string | undefined;
  rollout: Rollout;
  hooks: Hooks;
  build: Build | undefined;
  watch: { settleMs: number; maxWaitMs: number; minDelayMs: number; ignore: string[]; maxRetryDelay: number; path?: string | undefined };
  rsync: { path: string; args: string[] };
  metrics: { textfile: string | undefined; farm: string };
}

/** A configured target by its name, for code that holds a name the config gave it (a plan, a journal). */
export function targetNamed(config: Pick<Config, 'targets'>, name: string): Target {
  const target = config.targets.find((t) => t.name === name);
  if (target === undefined) throw new Error(`no target named ${name} in the config`);
  return target;
}

/** Read, validate and normalize a config file. Every failure is one line naming the file and field. */
export function loadConfig(file: string): Config {
  const absolute = path.resolve(file);
  assertTrusted(absolute, `config ${absolute}`);
  let text: string;
  try {
    text = fs.readFileSync(absolute, 'utf8');
  } catch (error) {
    throw new FanoutError(`config ${absolute}: cannot read it (${errorMessage(error)}); create one with "fanout init"`);
  }
  const config = parseConfig(text, absolute);
  checkPasswordFiles(config);
  return config;
}

/**
 * The config's text, validated and normalized: pure, no file is read (loadConfig checks the
 * files it names). Every failure is one line naming the file and field.
 */
export function parseConfig(text: string, file: string): Config {
  const fail: Fail = (where, why) => {
    throw new FanoutError(`config ${file}: ${where === '' ? '' : `${where}: `}${why}`);
  };
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: true });
  } catch (error) {
    const why = error instanceof YAMLParseError ? (error.message.split('\n')[0] ?? error.message).replace(/:$/, '') : errorMessage(error);
    return fail('', `not valid YAML: ${why}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return fail('', 'expected a mapping of fields (repo, source, targets, ...)');
  const c = validateConfig(raw, fail);
  const base = path.dirname(file);
  const abs = (p: string): string => path.resolve(base, p);

  const names = new Set<string>();
  const targets = c.targets.map((t, i): Target => {
    const where = `targets[${i}]`;
    if (names.has(t.name)) fail(`${where}.name`, `duplicate target name "${t.name}"`);
    names.add(t.name);
    let dest: Dest;
    try {
      dest = parseDest(t.dest);
    } catch (error) {
      return fail(`${where}.dest`, errorMessage(error));
    }
    if (t.passwordFile !== undefined && dest.kind !== 'daemon') fail(`${where}.passwordFile`, 'only rsync daemon targets (host::module) use a password file');
    if (dest.kind === 'daemon' && dest.user !== undefined && t.passwordFile === undefined)
      fail(`${where}.passwordFile`, `required for ${t.dest}: rsync would otherwise wait for a password typed at a terminal`);
    if (t.ssh !== undefined && dest.kind !== 'ssh') fail(`${where}.ssh`, 'only ssh targets (host:/path) take ssh options');
    if (t.checkUrl !== undefined && c.checks === undefined) fail(`${where}.checkUrl`, 'set checks: (status, body, ...) too: a URL alone checks nothing');
    const layout: Layout = (t.layout ?? c.layout) === 'slots' ? { kind: 'slots', count: c.slots, graceMs: c.slotGrace * 1000, shared: c.shared } : { kind: 'in-place' };
    return {
      name: t.name,
      dest,
      layout,
      checkUrl: t.checkUrl ?? c.checks?.url,
      passwordFile: t.passwordFile === undefined ? undefined : abs(t.passwordFile),
      timeout: t.timeout ?? c.timeout,
      ssh: {
        port: t.ssh?.port,
        identityFile: t.ssh?.identityFile === undefined ? undefined : abs(t.ssh.identityFile),
        knownHostsFile: t.ssh?.knownHostsFile === undefined ? undefined : abs(t.ssh.knownHostsFile),
        strictHostKeyChecking: t.ssh?.strictHostKeyChecking ?? true,
      },
    };
  });

  if (c.checks !== undefined && c.checks.command === undefined) {
    const unchecked = targets.find((t) => t.checkUrl === undefined);
    if (unchecked !== undefined) fail('checks', `nothing to check ${unchecked.name} with: give checks.url (or the target's checkUrl) or checks.command`);
  }
  if (Array.isArray(c.rollout?.canary)) {
    const unknown = c.rollout.canary.find((n) => !names.has(n));
    if (unknown !== undefined) fail('rollout.canary', `no target named "${unknown}"; configured: ${[...names].join(', ')}`);
  }
  if (c.rollout !== undefined && c.checks === undefined) fail('rollout', 'a rollout is gated by checks: add checks: (url or command)');
  const repo = abs(c.repo);
  return {
    file,
    repo,
    branch: c.branch,
    source: abs(c.source),
    stateDir: c.stateDir === undefined ? path.join(repo, 'fanout') : abs(c.stateDir),
    targets,
    exclude: c.exclude,
    protect: c.protect,
    concurrency: c.concurrency,
    timeout: c.timeout,
    retries: c.retries,
    retryDelay: c.retryDelay,
    lockTimeout: c.lockTimeout,
    maxDelete: c.maxDelete,
    owner: c.owner,
    switchPolicy: c.switch,
    checks:
      c.checks === undefined
        ? undefined
        : {
            url: c.checks.url,
            status: c.checks.status,
            body: c.checks.body,
            command: c.checks.command,
            timeoutMs: c.checks.timeout * 1000,
            retries: c.checks.retries,
            retryDelayMs: c.checks.retryDelay * 1000,
            settleMs: c.checks.settle * 1000,
          },
    revisionFile: c.revisionFile,
    build: c.build === undefined ? undefined : { command: c.build.command, output: c.build.output, env: c.build.env, timeoutMs: c.build.timeout * 1000, cache: c.build.cache, keep: c.build.keep },
    hooks: { before: c.hooks?.before, afterSwitch: c.hooks?.afterSwitch, after: c.hooks?.after, onFailure: c.hooks?.onFailure, timeoutMs: (c.hooks?.timeout ?? 60) * 1000 },
    rollout: { canary: c.rollout?.canary, batch: c.rollout?.batch, pauseMs: (c.rollout?.pause ?? 0) * 1000, onFailure: c.rollout?.onFailure ?? 'rollback' },
    watch: c.watch,
    rsync: c.rsync,
    metrics: { textfile: c.metrics?.textfile === undefined ? undefined : abs(c.metrics.textfile), farm: c.metrics?.farm ?? path.basename(repo).replace(/\.git$/, '') },
  };
}

/** Each daemon target's password file, checked as rsync will check it (see checkPasswordFile). */
export function checkPasswordFiles(config: Config): void {
  config.targets.forEach((target, i) => {
    if (target.passwordFile === undefined) return;
    checkPasswordFile(target.passwordFile, `targets[${i}].passwordFile`, (where, why) => {
      throw new FanoutError(`config ${config.file}: ${where}: ${why}`);
    });
  });
}

/**
 * rsync itself refuses a password file others can read, and one not owned by root when it runs as
 * root; saying so here turns a cryptic per-target failure into one line before anything is touched.
 */
function checkPasswordFile(file: string, where: string, fail: (where: string, why: string) => never): void {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return fail(where, `${JSON.stringify(file)} does not exist`);
  }
  if (!stat.isFile()) fail(where, `${file} is not a file`);
  const mode = stat.mode & 0o777;
  if ((mode & 0o077) !== 0) fail(where, `${file} has mode ${mode.toString(8)}; it must be 600 (chmod 600 ${file})`);
  if (stat.size === 0) fail(where, `${file} is empty; it must hold the daemon password`);
  const uid = process.getuid?.();
  if (uid === 0 && stat.uid !== 0) fail(where, `${file} must be owned by root when fanout runs as root (rsync refuses it otherwise)`);
  const untrusted = trustProblem(file);
  if (untrusted !== undefined) fail(where, `${untrusted}; refusing to use it`);
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    fail(where, `${file} is not readable by this user`);
  }
}
