import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { validateConfig, type Fail } from './config-schema.js';
import { normalizeZones } from './config-zones.js';
import { checkStagesApart, failInStage, placeOf, stageNames, stageView } from './config-stages.js';
import {
  checkEveryTargetChecked,
  checkRollout,
  normalizeBuild,
  normalizeChecks,
  normalizeHooks,
  normalizeMetrics,
  normalizePage,
  normalizePlaces,
  normalizeRollout,
  normalizeRunSettings,
  normalizeTargets,
  type Resolve,
} from './config-sections.js';
import type { Dest } from './dest.js';
import { FanoutError, errorMessage } from './errors.js';
import { assertConfigTrusted, configReadFailure, namedConfig, unreadablePasswordLine, type ConfigOrigin } from './config-access.js';
import { currentUid, trustProblem, userName } from './trust.js';

// The config's public face: the normalized Config the rest of fanout reads, and the functions that
// make one. Reading goes text -> YAML (here) -> schema (config-schema.ts) -> each section normalized,
// then the rules that span sections (config-sections.ts); loadConfig then checks the files it names.

export { DEFAULT_WATCH_IGNORE, closestKey } from './config-schema.js';

export interface SshOptions {
  port: number | undefined;
  identityFile: string | undefined;
  knownHostsFile: string | undefined;
  strictHostKeyChecking: boolean;
  /** the socket of a master connection fanout holds open (a relay's): every ssh rides it instead of connecting */
  controlPath?: string | undefined;
}

/**
 * How a target's dest holds the site. in-place: the files themselves, written where they are
 * served. slots: `slots/1` .. `slots/N` release directories, a relative symlink `current` to the
 * live one, and `shared/` for the shared paths (see docs/guides/atomic-releases.md).
 */
export type Layout = { kind: 'in-place' } | { kind: 'slots'; count: number; graceMs: number; shared: readonly string[] };

/** The git hook a push deploys from (docs/guides/push-modes.md). */
export type PushMode = 'post-receive' | 'pre-receive';

export interface Target {
  name: string;
  dest: Dest;
  passwordFile: string | undefined;
  timeout: number;
  ssh: SshOptions;
  layout: Layout;
  /** the URL its checks fetch ({host} and {commit} expanded when checked) */
  checkUrl: string | undefined;
  /** the zone it stands in (zones:), undefined: none */
  zone: string | undefined;
}

/**
 * A host that passes each release on to the rest of its zone (docs/guides/many-hosts.md): reached over
 * ssh, it keeps the release in `<dir>/release` and its zone's daemon passwords in `<dir>/secrets`.
 */
export interface Relay {
  /** its dest as the config writes it: how the journal, the log and the operator name it */
  name: string;
  zone: string;
  dest: Extract<Dest, { kind: 'ssh' }>;
  ssh: SshOptions;
  timeout: number;
}

/** Targets grouped by where they stand; with relays, each release reaches them through one. */
export interface Zone {
  name: string;
  relays: Relay[];
  /** how many of its targets each relay sends to at once */
  concurrency: number;
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
  /** with stages: which one this is (docs/guides/stages-and-locks.md); undefined for a config without stages */
  stage: string | undefined;
  /** with stages: every other stage, read from the same file (their own otherStages empty) */
  otherStages: readonly Config[];
  /** with stages: every stage's name, in the config's order; empty without stages */
  stageNames: readonly string[];
  repo: string;
  /** pushes to this branch deploy; undefined: a stage that is only promoted into (fanout promote) */
  branch: string | undefined;
  source: string;
  stateDir: string;
  targets: Target[];
  /** in the config's order; empty without zones */
  zones: Zone[];
  exclude: string[];
  protect: string[];
  concurrency: number;
  timeout: number;
  retries: number;
  retryDelay: number;
  lockTimeout: number;
  maxDelete: number | undefined;
  owner: boolean;
  /**
   * with slots (`switch:`): the share of the farm, in percent, that must have staged before anyone
   * switches: `all` is 100, `available` 0, "99%" 99. Below it nobody switches; at or above it those
   * that staged switch, and the others lag (releases/switch-policy.ts)
   */
  switchQuorum: number;
  /** which git hook deploys a push: post-receive (after git accepted it) or pre-receive (git accepts it only if the deploy succeeded) */
  pushMode: PushMode;
  checks: Checks | undefined;
  revisionFile: string | undefined;
  rollout: Rollout;
  hooks: Hooks;
  build: Build | undefined;
  watch: { settleMs: number; maxWaitMs: number; minDelayMs: number; ignore: string[]; maxRetryDelay: number; path?: string | undefined };
  rsync: { path: string; args: string[] };
  metrics: { textfile: string | undefined; farm: string };
  /** the farm page's directory (undefined: no page) */
  page: { dir: string | undefined };
}

/** A configured target by its name, for code that holds a name the config gave it (a plan, a journal). */
export function targetNamed(config: Pick<Config, 'targets'>, name: string): Target {
  const target = config.targets.find((t) => t.name === name);
  if (target === undefined) throw new Error(`no target named ${name} in the config`);
  return target;
}

/**
 * Read, validate and normalize a config file. Every failure is one line naming the file and field;
 * `origin` (how the path was chosen) lets a missing or foreign config say where fanout looked and
 * what to run instead (config-access.ts).
 */
export function loadConfig(file: string, origin: ConfigOrigin = namedConfig(file), stage?: string): Config {
  const absolute = path.resolve(file);
  const config = pickStage(parseStages(readConfigText(absolute, origin), absolute), absolute, stage);
  checkPasswordFiles(config);
  return config;
}

/** Every farm the config names: its stages in order, or the one farm of a config without stages (the hook, init). */
export function loadStages(file: string, origin: ConfigOrigin = namedConfig(file)): Config[] {
  const absolute = path.resolve(file);
  const stages = parseStages(readConfigText(absolute, origin), absolute);
  for (const config of stages) checkPasswordFiles(config);
  return stages;
}

function readConfigText(absolute: string, origin: ConfigOrigin): string {
  const where = { ...origin, file: absolute };
  assertConfigTrusted(where);
  try {
    return fs.readFileSync(absolute, 'utf8');
  } catch (error) {
    throw new FanoutError(configReadFailure(where, error));
  }
}

/**
 * The config's text, validated and normalized: pure, no file is read (loadConfig checks the
 * files it names). Every failure is one line naming the file and field. With stages, `stage`
 * picks one; it may be left out when there is only one.
 */
export function parseConfig(text: string, file: string, stage?: string): Config {
  return pickStage(parseStages(text, file), file, stage);
}

/** Every farm in the text: each stage (a mistake in one is reported whichever is asked for), or the one farm. */
export function parseStages(text: string, file: string): Config[] {
  const fail = failIn(file);
  const raw = readYaml(text, fail);
  const names = stageNames(raw, fail);
  if (names === undefined) return [parseFarm(raw, file, fail, undefined)];
  const all = names.map((name) => parseFarm(stageView(raw, name), file, failInStage(fail, raw, name), name));
  checkStagesApart(
    all.map((c) => ({
      name: c.stage ?? '',
      branch: c.branch,
      textfile: c.metrics.textfile,
      places: [
        { field: 'source', place: placeOf({ kind: 'local', path: c.source }) },
        { field: 'stateDir', place: placeOf({ kind: 'local', path: c.stateDir }) },
        ...c.targets.map((t, i) => ({ field: `targets[${i}].dest`, place: placeOf(t.dest) })),
      ],
    })),
    fail,
  );
  return all.map((config) => ({ ...config, stageNames: names, otherStages: all.filter((c) => c !== config) }));
}

function pickStage(all: readonly Config[], file: string, stage: string | undefined): Config {
  const fail = failIn(file);
  const names = all.map((c) => c.stage).filter((name) => name !== undefined);
  if (names.length === 0) {
    if (stage !== undefined) fail('', `has no stages, so --stage ${stage} names nothing: leave --stage out`);
    return all[0] ?? fail('', 'names no farm');
  }
  const chosen = stage ?? (names.length === 1 ? names[0] : undefined);
  if (chosen === undefined) return fail('', `has stages ${names.join(', ')}: name one with --stage NAME`);
  return all.find((c) => c.stage === chosen) ?? fail('', `has no stage "${chosen}"; its stages: ${names.join(', ')}`);
}

/** One farm: the whole config without stages, or one stage's view of it. */
function parseFarm(raw: object, file: string, fail: Fail, stage: string | undefined): Config {
  const c = validateConfig(raw, fail);
  const abs: Resolve = (p) => path.resolve(path.dirname(file), p);
  const targets = normalizeTargets(c, abs, fail);
  const zones = normalizeZones(c, targets, abs, fail);
  checkEveryTargetChecked(c.checks, targets, fail);
  checkRollout(c.rollout, c.checks, targets, fail);
  const places = normalizePlaces(c, abs, stage !== undefined);
  return {
    file,
    stage,
    otherStages: [],
    stageNames: stage === undefined ? [] : [stage],
    ...places,
    targets,
    zones,
    ...normalizeRunSettings(c),
    checks: normalizeChecks(c.checks),
    revisionFile: c.revisionFile,
    build: normalizeBuild(c.build),
    hooks: normalizeHooks(c.hooks),
    rollout: normalizeRollout(c.rollout),
    watch: c.watch,
    rsync: c.rsync,
    metrics: normalizeMetrics(c.metrics, places.repo, abs),
    page: normalizePage(c.page, abs),
  };
}

/** Problems with the config in `file` as one line each: `config <file>: <field>: <why>`. */
function failIn(file: string): Fail {
  return (where, why) => {
    throw new FanoutError(`config ${file}: ${where === '' ? '' : `${where}: `}${why}`);
  };
}

/** The text as YAML, which must be a mapping of fields; a key given twice is refused. */
function readYaml(text: string, fail: Fail): object {
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: true });
  } catch (error) {
    const why = error instanceof YAMLParseError ? (error.message.split('\n')[0] ?? error.message).replace(/:$/, '') : errorMessage(error);
    return fail('', `not valid YAML: ${why}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return fail('', 'expected a mapping of fields (repo, source, targets, ...)');
  return raw;
}

/** Each daemon target's password file, checked as rsync will check it (see checkPasswordFile). */
export function checkPasswordFiles(config: Config): void {
  config.targets.forEach((target, i) => {
    if (target.passwordFile === undefined) return;
    checkPasswordFile(target.passwordFile, `targets[${i}].passwordFile`, failIn(config.file));
  });
}

/**
 * rsync itself refuses a password file others can read, and one not owned by root when it runs as
 * root; saying so here turns a cryptic per-target failure into one line before anything is touched.
 */
function checkPasswordFile(file: string, where: string, fail: Fail): void {
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
  const uid = currentUid();
  if (uid === 0 && stat.uid !== 0) fail(where, `${file} belongs to ${userName(stat.uid)}, and rsync refuses a password file not owned by root when it runs as root: chown root ${file}`);
  const untrusted = trustProblem(file);
  if (untrusted !== undefined) fail(where, `${untrusted}; refusing to use it${stat.uid === uid || stat.uid === 0 ? '' : `: as root, chown ${userName(uid)} ${file}`}`);
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    fail(where, unreadablePasswordLine(file, userName(uid), userName(stat.uid), mode));
  }
}
