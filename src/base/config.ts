import fs from 'node:fs';
import path from 'node:path';
import leven from 'leven';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import * as v from 'valibot';
import { parseDest, type Dest } from './dest.js';
import { FanoutError, errorMessage } from './errors.js';
import { pathProblem } from './paths.js';
import { assertTrusted, trustProblem } from './trust.js';

/** vim, emacs, kate and friends write these beside the file being edited */
export const DEFAULT_WATCH_IGNORE = ['*.swp', '*.swx', '*.swpx', '*~', '.#*', '#*#', '4913', '*.kate-swp', '.*.tmp'] as const;

const nonEmpty = v.pipe(v.string(), v.minLength(1, 'must not be empty'));
const seconds = v.pipe(v.number(), v.gtValue(0, 'must be more than 0 (seconds)'));
const atLeast = (min: number) => v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(min, `must be at least ${min}`));
const between = (min: number, max: number) => v.pipe(atLeast(min), v.maxValue(max, `must be at most ${max}`));

const targetName = v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only'));

// ssh expands ${VAR} in these file names from its environment, and has no way to escape it
const sshFile = v.pipe(
  nonEmpty,
  v.check((p) => !p.includes('${'), 'ssh would read "${...}" in this path as an environment variable: rename the file'),
);

const sshOptions = v.strictObject({
  port: v.optional(between(1, 65535)),
  identityFile: v.optional(sshFile),
  knownHostsFile: v.optional(sshFile),
  /** off only for throwaway test hosts: an unknown host key is otherwise an error */
  strictHostKeyChecking: v.optional(v.boolean(), true),
});

const layoutName = v.picklist(['in-place', 'slots'], 'must be "in-place" or "slots"');

const targetSchema = v.strictObject({
  name: targetName,
  dest: nonEmpty,
  passwordFile: v.optional(nonEmpty),
  timeout: v.optional(seconds),
  ssh: v.optional(sshOptions),
  /** this target's layout, instead of the top-level one */
  layout: v.optional(layoutName),
  /** the URL checks fetch for this target, instead of checks.url */
  checkUrl: v.optional(nonEmpty),
});

// a path inside the site, as a commit would name it: no leading or trailing slash, no . or ..
const sitePath = v.pipe(
  nonEmpty,
  v.check((p) => !p.startsWith('/') && !p.endsWith('/'), 'a path inside the site, without a leading or trailing "/" (uploads, media/cache)'),
  v.check((p) => pathProblem(p) === undefined, 'not a path fanout can use: no empty, "." or ".." component, and not .git'),
  // rsync reads these as a pattern in the rule that keeps the path out of each release
  v.check((p) => !/[*?[\\]/.test(p), 'a plain path: no *, ? or [ (rsync would read a pattern)'),
);

const schema = v.strictObject({
  repo: nonEmpty,
  branch: v.optional(nonEmpty, 'main'),
  source: nonEmpty,
  targets: v.array(targetSchema),
  exclude: v.optional(v.array(nonEmpty), () => []),
  protect: v.optional(v.array(nonEmpty), () => []),
  /** state journal, lock and log; default: <repo>/fanout, which the pushing user can always write */
  stateDir: v.optional(nonEmpty),
  concurrency: v.optional(between(1, 256), 8),
  /** rsync connect and I/O timeout, seconds; a target may override it */
  timeout: v.optional(seconds, 30),
  /** extra attempts for a target whose rsync failed on connection or timeout */
  retries: v.optional(between(0, 10), 1),
  retryDelay: v.optional(seconds, 2),
  /** how long a deploy waits for the one before it, seconds */
  lockTimeout: v.optional(seconds, 600),
  /** refuse a deploy that would delete more files than this on any target (off by default) */
  maxDelete: v.optional(atLeast(1)),
  /** keep owner and group (-o -g): the receiving side must run as root */
  owner: v.optional(v.boolean(), false),
  /** in-place: write into the live directory; slots: stage each release beside it, then switch `current` on every target at once */
  layout: v.optional(layoutName, 'in-place'),
  /** release directories per target with layout: slots */
  slots: v.optional(between(2, 16), 2),
  /** seconds a slot that stopped being live is left alone, for the requests still running on it */
  slotGrace: v.optional(v.pipe(v.number(), v.minValue(0, 'must be 0 or more (seconds)')), 10),
  /** paths each slot links to shared/ on its target (uploads): created once, never deleted, never in a commit */
  shared: v.optional(v.array(sitePath), () => []),
  /** all: nobody switches unless every target staged; available: those that staged switch */
  switch: v.optional(v.picklist(['all', 'available'], 'must be "all" or "available"'), 'all'),
  watch: v.optional(
    v.strictObject({
      /** how long the events must be quiet before a batch starts, ms */
      settleMs: v.optional(between(0, 60_000), 5),
      /** the longest a batch waits for the events around it to calm down, ms */
      maxWaitMs: v.optional(between(0, 3_600_000), 1000),
      /** at least this long between the starts of two batches, ms (0: none) */
      minDelayMs: v.optional(between(0, 3_600_000), 0),
      /** file names (globs with * and ?) that never start a batch: editor temp files */
      ignore: v.optional(v.array(nonEmpty), () => [...DEFAULT_WATCH_IGNORE]),
      /** the longest wait between retries of a target that is down, seconds */
      maxRetryDelay: v.optional(seconds, 60),
      /** the one directory of the source watch mirrors, as it is (with build: the only one it may) */
      path: v.optional(sitePath),
    }),
    () => ({}),
  ),
  rsync: v.optional(v.strictObject({ path: v.optional(nonEmpty, 'rsync'), args: v.optional(v.array(v.string()), () => []) }), () => ({})),
  /** how each target is checked once it serves the release (switched, or written in place) */
  checks: v.optional(
    v.strictObject({
      /** fetched with GET; {host} is the target's host, {commit} the deployed sha */
      url: v.optional(nonEmpty),
      status: v.optional(between(100, 599), 200),
      /** a substring the body must hold ({commit} expanded) */
      body: v.optional(nonEmpty),
      /** a program and its arguments (no shell), run on the update server; FANOUT_TARGET, FANOUT_HOST, FANOUT_COMMIT and FANOUT_SLOT in its environment */
      command: v.optional(v.pipe(v.array(nonEmpty), v.minLength(1, 'must name a program'))),
      timeout: v.optional(seconds, 5),
      retries: v.optional(between(0, 20), 2),
      retryDelay: v.optional(seconds, 1),
      /** seconds to wait before the first try */
      settle: v.optional(v.pipe(v.number(), v.minValue(0, 'must be 0 or more (seconds)')), 0),
    }),
  ),
  /** turn each pushed commit into the tree the web servers serve, once, on the update server */
  build: v.optional(
    v.strictObject({
      /** an argument array, or a string run by sh -c */
      command: v.union([v.pipe(v.array(nonEmpty), v.minLength(1, 'must name a program')), nonEmpty], 'an argument array, or a string run by sh -c'),
      /** the directory the build writes, relative to the checkout */
      output: sitePath,
      env: v.optional(v.record(v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name')), v.string()), () => ({})),
      timeout: v.optional(seconds, 600),
      /** paths in the checkout kept between builds (node_modules, vendor) */
      cache: v.optional(v.array(sitePath), () => []),
      /** build refs kept beyond those a target, slot or the last deploys hold */
      keep: v.optional(atLeast(1), 20),
    }),
  ),
  /** programs (argument arrays, no shell) run on the update server around a deploy */
  hooks: v.optional(
    v.strictObject({
      /** before anything is touched; failing, it stops the deploy */
      before: v.optional(v.pipe(v.array(nonEmpty), v.minLength(1, 'must name a program'))),
      /** for each target once it serves the release (switched, or written in place), before its check */
      afterSwitch: v.optional(v.pipe(v.array(nonEmpty), v.minLength(1, 'must name a program'))),
      /** once the deploy is over, whatever its outcome */
      after: v.optional(v.pipe(v.array(nonEmpty), v.minLength(1, 'must name a program'))),
      /** once, when the deploy failed (a target, or a check) */
      onFailure: v.optional(v.pipe(v.array(nonEmpty), v.minLength(1, 'must name a program'))),
      timeout: v.optional(seconds, 60),
    }),
  ),
  /** a file fanout writes into each release holding the deployed sha (never deleted, left out of verify) */
  revisionFile: v.optional(sitePath),
  /** the order targets take a release in: a canary first, then batches, each checked */
  rollout: v.optional(
    v.strictObject({
      canary: v.optional(v.union([atLeast(1), v.pipe(v.array(targetName), v.minLength(1, 'must name a target'))], 'a number of targets, or a list of target names')),
      batch: v.optional(v.union([atLeast(1), v.pipe(v.string(), v.regex(/^([1-9][0-9]?|100)%$/, 'a number of targets, or a percentage like "50%"'))], 'a number of targets, or a percentage like "50%"')),
      /** seconds between batches */
      pause: v.optional(v.pipe(v.number(), v.minValue(0, 'must be 0 or more (seconds)')), 0),
      /** rollback: every target that took the release goes back; stop: leave it, exit 1 */
      onFailure: v.optional(v.picklist(['rollback', 'stop'], 'must be "rollback" or "stop"'), 'rollback'),
    }),
  ),
  /** Prometheus metrics */
  metrics: v.optional(
    v.strictObject({
      /** a node_exporter textfile, rewritten after every deploy (relative: to the config's directory) */
      textfile: v.optional(v.pipe(nonEmpty, v.endsWith('.prom', 'must end in .prom: node_exporter\'s textfile collector reads only those'))),
      /** the farm label on every metric, so that several farms' files on one server never collide (default: the repository's name) */
      farm: v.optional(nonEmpty),
    }),
  ),
});

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
  const fail = (where: string, why: string): never => {
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
  const parsed = v.safeParse(schema, raw);
  if (!parsed.success) {
    // A misspelt key (`targts:`) is also a missing one (`targets`): the unknown key is the cause, so it is named first.
    const issue = parsed.issues.find((i) => i.type === 'strict_object' && i.received !== 'undefined') ?? parsed.issues[0];
    const where = issue.path ?? [];
    // a strict object reports a missing field and an unknown one as a key it did not expect
    if (issue.type === 'strict_object') {
      if (issue.received === 'undefined') return fail(fieldName(where), 'missing (required)');
      const parent = where.slice(0, -1);
      const key = where.at(-1)?.key;
      const unknown = typeof key === 'string' ? key : issue.received.replace(/^"|"$/g, '');
      const near = closestKey(unknown, knownKeys(parent.map((p) => p.key)));
      return fail(fieldName(parent), `unknown field ${issue.received}${near === undefined ? '' : ` (did you mean "${near}"?)`}`);
    }
    return fail(fieldName(where), issue.message);
  }
  const c = parsed.output;
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

/** The keys the schema allows at a place in the config (`[]` the top, `['targets', 0, 'ssh']`...). */
function knownKeys(at: readonly unknown[]): string[] {
  let node: unknown = schema;
  const unwrap = (n: unknown): unknown => {
    while (typeof n === 'object' && n !== null && 'wrapped' in n) n = n.wrapped;
    return n;
  };
  for (const key of at) {
    node = unwrap(node);
    if (typeof node !== 'object' || node === null) return [];
    if (typeof key === 'number') node = 'item' in node ? node.item : undefined;
    else node = 'entries' in node && typeof node.entries === 'object' && node.entries !== null ? (node.entries as Record<string, unknown>)[String(key)] : undefined;
  }
  node = unwrap(node);
  return typeof node === 'object' && node !== null && 'entries' in node && typeof node.entries === 'object' && node.entries !== null ? Object.keys(node.entries) : [];
}

/** The known key a misspelt one most resembles: a few edits away, or differing only in case. */
export function closestKey(unknown: string, known: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const key of known) {
    const distance = key.toLowerCase() === unknown.toLowerCase() ? 0 : leven(unknown.toLowerCase(), key.toLowerCase());
    if (best === undefined || distance < best.distance) best = { key, distance };
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(best.key.length / 3)) ? best.key : undefined;
}

function fieldName(issuePath: readonly { key: unknown }[]): string {
  return issuePath.map(({ key }, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`)).join('');
}
