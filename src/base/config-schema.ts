import leven from 'leven';
import * as v from 'valibot';
import { pathProblem } from './paths.js';

// What a config file may say (the valibot schema, with its defaults), and how the first thing it
// refuses becomes the one line the operator reads. config.ts reads the file, config-sections.ts
// normalizes what passes; nothing here reads a file.

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
const SWITCH_WORDS = 'must be "all", "available" or the share of the farm that must have staged, like "99%"';

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
  /** the zone it belongs to (zones:): with a relay there, the relay sends it each release */
  zone: v.optional(targetName),
});

const relaySchema = v.strictObject({
  /** user@host:/dir over ssh: the host that passes releases on to its zone, and the directory of fanout's own on it */
  dest: nonEmpty,
  ssh: v.optional(sshOptions),
});

const zoneSchema = v.strictObject({
  /** hosts of the zone that pass each release on to the rest of it; none: the zone is sent to directly */
  relays: v.optional(v.array(relaySchema), () => []),
  /** how many targets each relay sends to at once (default: concurrency) */
  concurrency: v.optional(between(1, 256)),
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
  /** default main; with stages, each stage's own (none: the stage is promoted into) */
  branch: v.optional(nonEmpty),
  /** several farms from one repository (docs/guides/stages-and-locks.md): each stage's fields over the top level's */
  stages: v.optional(v.record(v.string(), v.record(v.string(), v.unknown()))),
  source: nonEmpty,
  targets: v.array(targetSchema),
  /** targets grouped by where they stand (a rack, a data centre), each zone with its relays (docs/guides/many-hosts.md) */
  zones: v.optional(v.record(targetName, zoneSchema), () => ({})),
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
  /** all: nobody switches unless every target staged; available: those that staged switch; "99%": those that staged switch once that share of the farm has */
  switch: v.optional(v.union([v.picklist(['all', 'available'], SWITCH_WORDS), v.pipe(v.string(), v.regex(/^(?:100(?:\.0+)?|[0-9]{1,2}(?:\.[0-9]+)?)%$/, SWITCH_WORDS))], SWITCH_WORDS), 'all'),
  /** post-receive: git accepts the push, then fanout deploys it; pre-receive: the push is accepted only if its deploy succeeded */
  push: v.optional(v.picklist(['post-receive', 'pre-receive'], 'must be "post-receive" or "pre-receive"'), 'post-receive'),
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
  /** the farm page: a static HTML page of the farm, rewritten after every deploy */
  page: v.optional(
    v.strictObject({
      /** the directory its index.html is written into, made if missing (relative: to the config's directory) */
      dir: nonEmpty,
    }),
  ),
});

/** The schema itself, for what must name every field it allows: the config reference's test (test/docs/references.test.ts). */
export const configSchema = schema;

/** A config as the schema lets it through: the defaults filled in, no path resolved, no dest parsed. */
export type RawConfig = v.InferOutput<typeof schema>;
export type RawTarget = RawConfig['targets'][number];

/** Reports a problem at a field of the config (`''`: the file as a whole), as one line; it throws. */
export type Fail = (where: string, why: string) => never;

/** The parsed YAML checked against the schema; the first problem is reported, naming its field. */
export function validateConfig(raw: object, fail: Fail): RawConfig {
  const parsed = v.safeParse(schema, raw);
  if (parsed.success) return parsed.output;
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
    // a record (zones:) holds the same schema under every key
    else if ('entries' in node && typeof node.entries === 'object' && node.entries !== null) node = (node.entries as Record<string, unknown>)[String(key)];
    else node = 'value' in node ? node.value : undefined;
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

/** An issue's path as the config spells it: `targets[0].ssh.port`. */
function fieldName(issuePath: readonly { key: unknown }[]): string {
  return issuePath.map(({ key }, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`)).join('');
}
