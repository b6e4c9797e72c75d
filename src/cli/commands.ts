import fs from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { loadConfig, type Config } from '../base/config.js';
import { deploy, selectTargets, whoAmI, type Revision } from '../deploy/deploy.js';
import { checkRepository, checkSetup, checkTools, probeTargets, type Check } from '../observe/doctor.js';
import { FanoutError, errorMessage } from '../base/errors.js';
import { branchTip, commitInfo, type Commit } from '../base/git.js';
import { runPostReceiveHook } from './commands/post-receive.js';
import { init } from './commands/init.js';
import { Journal, type Reason } from '../engine/journal.js';
import { commandHelp } from './commands/help.js';
import { openLog, reopenLogOnHangup, silentLogger } from '../base/log.js';
import { metricsFacts, prometheusText } from '../observe/metrics.js';
import { humanDuration, itemLines, shortCommit, statusWord, stdoutOutput, table } from '../engine/report.js';
import { configPath, exitFor, session, type Session } from './session.js';
import { autoRollbackLine, farmStatus, lastAutoRollback, rejectedLine, slotsLine, statusDocument, targetsToSync } from '../observe/status.js';
import { readWatchState, watchStatusLine } from '../watch/watcher-state.js';
import { driftPaths, verify } from '../observe/verify.js';
import { watch } from '../watch/watcher.js';

interface GlobalArgs {
  config: string | undefined;
  json: boolean;
  'dry-run': boolean;
  target: string[];
  verbose: boolean;
}

function sessionFor(args: GlobalArgs): Session {
  return session(configPath(args.config), args.json);
}

interface DeployArgs extends GlobalArgs {
  full: boolean;
  force: boolean;
  'allow-empty': boolean;
  'max-delete': number | undefined;
}

function runDeploy(args: DeployArgs, revision: Revision, reason: Reason): Promise<void> {
  return deployWith(sessionFor(args), args, revision, reason, args.target);
}

async function deployWith(s: Session, args: DeployArgs, revision: Revision, reason: Reason, targets: string[]): Promise<void> {
  const maxDelete = args['max-delete'];
  if (maxDelete !== undefined && (!Number.isInteger(maxDelete) || maxDelete < 1)) throw new FanoutError('--max-delete takes a whole number of files, 1 or more');
  const entry = await deploy(
    s,
    { revision, reason, startedBy: whoAmI() },
    { dryRun: args['dry-run'], targets, full: args.full, force: args.force, allowEmpty: args['allow-empty'], ...(maxDelete === undefined ? {} : { maxDelete }) },
  );
  s.reporter.finish();
  process.exitCode = exitFor(entry);
}

function writeJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** 2026-11-24 05:22:08 UTC, and how long ago */
function when(iso: string | null): string {
  if (iso === null) return '-';
  const at = new Date(iso);
  const ago = Date.now() - at.getTime();
  return `${at.toISOString().slice(0, 19).replace('T', ' ')} (${humanDuration(ago)} ago)`;
}

async function subjects(repo: string, commits: Iterable<Commit | null>): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const c of new Set(commits)) {
    if (c === null) continue;
    map.set(c, await commitInfo(repo, c).then((i) => i.subject, () => '(commit not in the repository)'));
  }
  return map;
}

async function showStatus(args: GlobalArgs & { prometheus: boolean }): Promise<void> {
  const { config, out, log } = sessionFor(args);
  const journal = Journal.open(config.stateDir);
  if (args.prometheus) {
    // what metrics.textfile holds, once: the state is in the values, so the exit is 0
    out.write(prometheusText(await metricsFacts({ ...config, targets: selectTargets(config, args.target) }, journal.state, log)));
    return;
  }
  const watchState = readWatchState(config.stateDir);
  const history = journal.readHistory();
  const state = journal.state;
  const currentEntry = state.current === null ? undefined : history.find((e) => e.id === state.current?.deployId);
  const status = farmStatus(
    selectTargets(config, args.target).map((t) => t.name),
    state,
    await branchTip(config.repo, config.branch),
    watchStatusLine(watchState),
    currentEntry,
  );
  const { current, branchTip: tip, targets: statuses, sourceError } = status;
  const autoRollback = lastAutoRollback(history);
  // with build: the current deploy is a build commit, made from a source commit
  const currentBuild = currentEntry?.build;
  const names = await subjects(config.repo, [current?.commit ?? null, tip, ...statuses.map((s) => s.commit)]);
  process.exitCode = status.ok ? 0 : 1;
  if (args.json) {
    writeJson(statusDocument(status, names, watchState, state, autoRollback, currentBuild));
    return;
  }
  const head =
    current === null
      ? 'current deploy: none yet (git push, or fanout deploy)'
      : `current deploy: ${shortCommit(current.commit)} "${names.get(current.commit) ?? ''}" (deploy #${current.deployId}, ${when(current.at)})`;
  out.write(`${head}\n`);
  if (currentBuild !== undefined) out.write(`built from ${shortCommit(currentBuild.source)}${currentBuild.reused ? ' (a build made before, reused)' : ` in ${humanDuration(currentBuild.durationMs)}`}; its log: ${config.stateDir}/builds/${currentBuild.source}.log\n`);
  if (sourceError !== undefined) out.write(`${statusWord('failed', out.color)}: the last deploy could not check its commit out into ${config.source}: ${sourceError}\n`);
  // an automatic rollback says what failed and where the farm went; else a release still rejected
  if (autoRollback !== undefined) out.write(`${autoRollbackLine(autoRollback)}\n`);
  else if (state.rejected !== undefined) out.write(`${rejectedLine(state.rejected)}\n`);
  if (tip !== null && !status.tip.deployed) out.write(`branch ${config.branch} is at ${shortCommit(tip)} "${names.get(tip) ?? ''}", not deployed: ${status.tip.why ?? ''}\n`);
  out.write('\n');
  out.write(
    table(
      ['TARGET', 'STATE', 'COMMIT', 'SUBJECT', 'SINCE', 'DETAIL'],
      statuses.map((s) => [
        s.name,
        statusWord(s.health, out.color),
        s.commit === null ? '-' : shortCommit(s.commit),
        s.commit === null ? '-' : truncate(names.get(s.commit) ?? '', 40),
        when(s.at),
        [s.error, slotsLine(s)].filter((d) => d !== undefined).join('; '),
      ]),
    ),
  );
  if (status.watch !== undefined) out.write(`\n${status.watch.line}\n`);
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

function showHistory(args: GlobalArgs & { limit: number }): void {
  const { config, out } = sessionFor(args);
  const entries = Journal.open(config.stateDir).readHistory().reverse().slice(0, args.limit);
  if (args.json) {
    writeJson({ deploys: entries });
    return;
  }
  if (entries.length === 0) {
    out.write('no deploys yet\n');
    return;
  }
  out.write(
    table(
      ['ID', 'WHEN', 'COMMIT', 'REASON', 'BY', 'TOOK', 'TARGETS'],
      entries.map((e) => [
        String(e.id),
        when(e.startedAt),
        e.build === undefined ? shortCommit(e.commit) : `${shortCommit(e.commit)} (build of ${shortCommit(e.build.source)}${e.build.reused ? ', reused' : `, ${humanDuration(e.build.durationMs)}`})`,
        e.reason,
        e.startedBy,
        humanDuration(Date.parse(e.finishedAt) - Date.parse(e.startedAt)),
        e.error !== undefined
          ? `${statusWord('failed', out.color)} ${e.error}`
          : [
              e.targets.map((t) => `${t.name} ${statusWord(t.status, out.color)} ${humanDuration(t.durationMs)}`).join(', '),
              ...(e.switch === undefined ? [] : [`switched ${e.switch.switched} within ${e.switch.skewMs} ms`]),
            ].join('; '),
      ]),
    ),
  );
}

async function runSync(args: DeployArgs): Promise<void> {
  const s = sessionFor(args);
  let targets = args.target;
  if (targets.length === 0 && !args.full) {
    const state = Journal.open(s.config.stateDir).state;
    targets = targetsToSync(
      s.config.targets.map((t) => t.name),
      state,
    );
    if (targets.length === 0) {
      if (args.json) writeJson({ ok: true, deploys: [], notes: ['every target has the current deploy; nothing to sync'] });
      else process.stdout.write('every target has the current deploy; nothing to sync (--full forces a full pass)\n');
      return;
    }
  }
  await deployWith(s, args, { kind: 'source' }, 'sync', targets);
}

async function runVerify(args: GlobalArgs & { 'all-slots': boolean }): Promise<void> {
  const s = sessionFor(args);
  const drifts = await verify(s, selectTargets(s.config, args.target), { allSlots: args['all-slots'] });
  const allSame = drifts.every((d) => d.status === 'same');
  process.exitCode = allSame ? 0 : 1;
  if (args.json) {
    writeJson({ ok: allSame, targets: drifts.map((d) => ({ ...d, paths: driftPaths(d) })) });
    return;
  }
  const label = (d: (typeof drifts)[number]): string => (d.slot === undefined || d.slot === 'current' ? d.name : `${d.name} slot ${d.slot}`);
  const width = Math.max(...drifts.map((d) => label(d).length));
  for (const d of drifts) {
    const name = label(d).padEnd(width);
    if (d.status === 'same') s.out.write(`${name}  ${statusWord('same', s.out.color)}   identical to ${d.slot !== undefined && d.slot !== 'current' ? 'the commit it holds' : 'the source'}\n`);
    else if (d.status === 'failed') s.out.write(`${name}  ${statusWord('failed', s.out.color)} ${d.error ?? ''}\n`);
    else s.out.write(`${name}  ${statusWord('drift', s.out.color)}  ${d.items.length} ${d.items.length === 1 ? 'path differs' : 'paths differ'}:\n${itemLines(d.items, ' '.repeat(width + 4))}`);
  }
  // drift is repaired by a full pass; a target that could not be reached only needs catching up
  const drifted = drifts.filter((d) => d.status === 'drift').map((d) => d.name);
  const unreachable = drifts.filter((d) => d.status === 'failed').map((d) => d.name);
  if (drifted.length > 0) s.out.write(`repair with: fanout sync --full ${drifted.map((n) => `--target ${n}`).join(' ')}\n`);
  if (unreachable.length > 0) s.out.write(`once it answers, catch it up with: fanout sync ${unreachable.map((n) => `--target ${n}`).join(' ')}\n`);
}

async function runDoctor(args: GlobalArgs): Promise<void> {
  const out = stdoutOutput();
  const checks: Check[] = await checkTools(silentLogger);
  let config: Config | undefined;
  try {
    config = loadConfig(configPath(args.config));
    checks.push({ name: 'config', ok: true, detail: config.file });
  } catch (error) {
    checks.push({ name: 'config', ok: false, detail: errorMessage(error) });
  }
  if (config !== undefined) {
    checks.push(...checkSetup(config), await checkRepository(config.repo));
    const log = fs.existsSync(config.stateDir) ? openLog(config.stateDir) : silentLogger;
    checks.push(...(await probeTargets(config, selectTargets(config, args.target), log)));
  }
  const allOk = checks.every((c) => c.ok);
  process.exitCode = allOk ? 0 : 1;
  if (args.json) {
    writeJson({ ok: allOk, checks });
    return;
  }
  out.write(
    table(
      ['', 'CHECK', 'FINDING'],
      checks.map((c) => [statusWord(c.ok ? 'ok' : 'problem', out.color), c.name, c.ok ? c.detail : `${c.detail}${c.fix === undefined ? '' : `; fix: ${c.fix}`}`]),
    ),
  );
}

const SAFETY_OPTIONS = {
  'allow-empty': { type: 'boolean', default: false, describe: 'deploy even an empty tree (it empties every target)' },
  'max-delete': { type: 'number', describe: "allow this many deletions per target for this deploy (overrides the config's maxDelete)" },
  force: { type: 'boolean', default: false, describe: 'send a release that failed its check to more hosts all the same' },
} as const;

export function buildCli(argv: string[]): Argv<GlobalArgs> {
  return yargs(argv)
    .scriptName('fanout')
    .usage('$0 <command>\n\ngit push deploys a website to every host of a load-balanced farm through rsync.')
    .option('config', { type: 'string', describe: 'config file (default: $FANOUT_CONFIG, else ./fanout.yaml)' })
    .option('json', { type: 'boolean', default: false, describe: 'one JSON document on stdout' })
    .option('dry-run', { type: 'boolean', default: false, describe: 'show what would be sent and deleted, change nothing' })
    .option('target', { type: 'string', array: true, default: [] as string[], describe: 'only this target (repeatable)' })
    .option('verbose', { type: 'boolean', default: false, describe: 'stack traces for internal errors' })
    .command(
      'init',
      'create the bare repo, install its post-receive hook, write a starter config; safe to re-run',
      (y) =>
        y
          .option('repo', { type: 'string', describe: 'bare repository to create (for a new config)' })
          .option('source', { type: 'string', describe: 'directory the pushed commit is checked out into' })
          .option('branch', { type: 'string', describe: 'the branch whose pushes deploy (default main)' }),
      async (args) => {
        const lines = await init({ configFile: configPath(args.config), repo: args.repo, source: args.source, branch: args.branch });
        for (const line of lines) console.log(line);
      },
    )
    .command(
      'hook <name>',
      'what git hooks run: "hook post-receive" reads the pushed refs on stdin and deploys the branch',
      (y) => y.positional('name', { choices: ['post-receive'] as const, demandOption: true }),
      (args) => runPostReceiveHook(args.config, args.json),
    )
    .command(
      'deploy [rev]',
      'deploy REV (default: the branch tip) to every target, each from the commit it has',
      (y) =>
        y
          .positional('rev', { type: 'string', describe: 'any revision git resolves: sha, short sha, tag, main~3' })
          .option('full', { type: 'boolean', default: false, describe: 'a full rsync --delete pass instead of the changed paths' })
          .options(SAFETY_OPTIONS)
          .example('$0 deploy v1.4.2', 'put a tag live'),
      (args) => runDeploy(args, args.rev === undefined ? { kind: 'tip' } : { kind: 'rev', rev: args.rev }, 'manual'),
    )
    .command(
      'rollback [rev]',
      'deploy the commit deployed before the current one (again: the one before that), or REV',
      (y) =>
        y
          .positional('rev', { type: 'string', describe: 'any revision git resolves, instead of the previous deploy' })
          .option('full', { type: 'boolean', default: false, describe: 'a full rsync --delete pass instead of the changed paths' })
          .options(SAFETY_OPTIONS)
          .example('$0 rollback', 'undo the last deploy')
          .example('$0 rollback v1.4.1', 'put a tag back'),
      (args) => runDeploy(args, args.rev === undefined ? { kind: 'previous' } : { kind: 'rev', rev: args.rev }, 'rollback'),
    )
    .command(
      'status',
      'per target: the commit it has, since when, and ok / behind / failed / unknown; exit 1 unless all ok',
      (y) => y.option('prometheus', { type: 'boolean', default: false, describe: 'the metrics (as metrics.textfile holds them) in Prometheus text format, exit 0' }),
      (args) => showStatus(args),
    )
    .command(
      'history',
      'past deploys, newest first: id, time, commit, reason, who, per-target outcome',
      (y) => y.option('limit', { type: 'number', default: 20, describe: 'how many deploys to show' }),
      (args) => {
        showHistory(args);
      },
    )
    .command(
      'sync',
      'bring targets (default: those not ok) to the source as it stands, each from its own commit',
      (y) => y.option('full', { type: 'boolean', default: false, describe: 'a full rsync --delete pass (all targets unless --target)' }).options(SAFETY_OPTIONS),
      (args) => runSync(args),
    )
    .command(
      'verify',
      'compare every target with the source (rsync --dry-run --checksum); exit 1 on any difference',
      (y) => y.option('all-slots', { type: 'boolean', default: false, describe: 'layout: slots: every slot against the commit it holds, not only what current serves' }),
      (args) => runVerify(args),
    )
    .command(
      'watch',
      'live mode for edits made outside git: inotify events on the source become rsync batches to every target',
      (y) => y.example('$0 watch --config /etc/fanout/fanout.yaml', 'run in the foreground (see config/fanout-watch.service)'),
      async (args) => {
        const s = sessionFor(args);
        reopenLogOnHangup(s.log);
        await watch(s, {
          targets: selectTargets(s.config, args.target),
          write: (line) => {
            process.stdout.write(`${line}\n`);
          },
        });
      },
    )
    .command(
      'doctor',
      'check tools, config, password files, state directory, hook, and each target (a harmless write probe)',
      (y) => y,
      (args) => runDoctor(args),
    )
    .command(
      'help [command]',
      "the README's reference for COMMAND, as text: fanout help watch",
      (y) => y.positional('command', { type: 'string', describe: 'a command: deploy, watch, ...' }),
      (args) => {
        if (args.command === undefined) buildCli(['--help']).showHelp('log');
        else process.stdout.write(commandHelp(args.command));
      },
    )
    .completion('completion', 'print the shell completion script (bash, or zsh when run from zsh): fanout completion >> ~/.bashrc', (current: string, _argv: unknown, completeByDefault: () => void, done: (completions: string[]) => void) => {
      // after --target, the config's target names; else yargs' own: commands and options
      const names = targetCompletions(argv, current);
      if (names === undefined) completeByDefault();
      else done(names);
    })
    .demandCommand(1, 'name a command; see fanout --help')
    .strict()
    .recommendCommands()
    .help()
    .version(versionLine())
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((message, error) => {
      if (error) throw error;
      throw new FanoutError(`${message} (see fanout --help)`);
    });
}

/**
 * Completing the word after `--target`: the names of the targets in the config the words name
 * (`--config FILE`, else where fanout looks), or none when it cannot be read; undefined for any
 * other word.
 */
function targetCompletions(argv: readonly string[], current: string): string[] | undefined {
  // bash splits `--target=we` into `--target`, `=`, `we` (COMP_WORDBREAKS) and completes the
  // last part; zsh passes the word whole and completes the whole word
  const given = argv.slice(argv.indexOf('--get-yargs-completions') + 1);
  const whole = given.at(-1)?.startsWith('--target=') === true;
  const words = given.join('\0').replace(/\0=\0/g, '=').split('\0');
  const last = words.at(-1) ?? '';
  const prefix = last.startsWith('--target=') ? last.slice('--target='.length) : words.at(-2) === '--target' ? current : undefined;
  if (prefix === undefined) return undefined;
  const at = words.findIndex((w) => w === '--config' || w.startsWith('--config='));
  const file = at === -1 ? undefined : words[at]?.startsWith('--config=') === true ? words[at]?.slice('--config='.length) : words[at + 1];
  try {
    const config = loadConfig(configPath(file));
    return config.targets
      .map((t) => t.name)
      .filter((name) => name.startsWith(prefix))
      .map((name) => (whole ? `--target=${name}` : name));
  } catch {
    return [];
  }
}

// set by scripts/build.mjs; absent when the sources run as they are (the unit tests)
declare const FANOUT_VERSION: string | undefined;
declare const FANOUT_BUILT_FROM: string | undefined;

/** `fanout --version`: the version and the commit the build was made from. */
export function versionLine(): string {
  const version = typeof FANOUT_VERSION === 'string' ? FANOUT_VERSION : 'unbuilt';
  const from = typeof FANOUT_BUILT_FROM === 'string' ? FANOUT_BUILT_FROM : 'unknown';
  return `fanout ${version} (commit ${from})`;
}

/** Every command but the hook's short path (main.ts): parse, run, and let errors reach main.ts. */
export async function runCommandLine(argv: string[]): Promise<void> {
  await buildCli(argv).parseAsync();
}
