import yargs, { type ArgumentsCamelCase, type Argv } from 'yargs';
import { FanoutError } from '../base/errors.js';
import { runDeploy, runRollback, runSync } from './commands/deploy.js';
import { runDoctor } from './commands/doctor.js';
import { runHelp } from './commands/help.js';
import { runHistory } from './commands/history.js';
import { runInit } from './commands/init.js';
import { runLog } from './commands/log.js';
import { runPostReceiveHook } from './commands/post-receive.js';
import { runPreReceiveHook } from './commands/pre-receive.js';
import { runLock, runUnlock } from './commands/lock.js';
import { runPromote } from './commands/promote.js';
import { runStatus } from './commands/status.js';
import { runVerify } from './commands/verify.js';
import { runWatch } from './commands/watch.js';
import { bashCompletionScript, completer, type CompletionWords } from './completion.js';
import { DRY_RUN, GLOBAL_OPTIONS, type GlobalArgs } from './global-options.js';
import { versionLine } from './version.js';

/**
 * The command line: a table of the commands, each its words for --help, its own options and the
 * handler (in commands/) that runs it. main.ts loads this module only for what is not the hook's
 * short path, and lets its errors reach main.ts.
 */

/** One command of the table, its arguments `A` once its options are parsed. */
interface Command<A> {
  /** the name and its positionals, as yargs reads them: `deploy [rev]` */
  name: string;
  /** its line in fanout --help */
  words: string;
  /** its positionals, options and examples, beside the global ones */
  options: (y: Argv<GlobalArgs>) => Argv<A>;
  run: (args: ArgumentsCamelCase<A>) => void | Promise<void>;
}

/** A command as the table holds them all alike, whatever their arguments: its name, what adds it to the command line, and its options. */
interface AddCommand {
  verb: string;
  add: (cli: Argv<GlobalArgs>) => Argv<GlobalArgs>;
  options: (y: Argv<GlobalArgs>) => unknown;
}

/** A command's entry, its arguments typed from its options (so `run` is a function of its own arguments). */
function command<A>(entry: Command<A>): AddCommand {
  return { verb: entry.name.split(' ')[0] ?? entry.name, add: (cli) => cli.command(entry.name, entry.words, entry.options, entry.run), options: entry.options };
}

const FULL = { type: 'boolean', default: false, describe: 'a full rsync --delete pass instead of the changed paths' } as const;

const SAFETY_OPTIONS = {
  'dry-run': DRY_RUN,
  'allow-empty': { type: 'boolean', default: false, describe: 'deploy even an empty tree (it empties every target)' },
  'max-delete': { type: 'number', describe: "allow this many deletions per target for this deploy (overrides the config's maxDelete)" },
  force: { type: 'boolean', default: false, describe: 'send a release that failed its check to more hosts all the same' },
  'override-lock': { type: 'boolean', default: false, describe: 'deploy while the deploy lock (fanout lock) is taken; recorded with the deploy' },
  message: { type: 'string', alias: 'm', describe: 'why this deploy, recorded with it (as git push -o message=... does for a push)' },
} as const;

const ALL_STAGES = { type: 'boolean', default: false, describe: 'with stages: every stage at once (an incident stops them all)' } as const;

/** The hooks `fanout hook NAME` runs. */
const HOOKS = ['post-receive', 'pre-receive'] as const;

const COMMANDS: readonly AddCommand[] = [
  command({
    name: 'init',
    words: 'create the bare repo, install its post-receive hook, write a starter config; safe to re-run',
    options: (y) =>
      y
        .option('repo', { type: 'string', describe: 'bare repository to create (for a new config)' })
        .option('source', { type: 'string', describe: 'directory the pushed commit is checked out into' })
        .option('branch', { type: 'string', describe: 'the branch whose pushes deploy (default main)' }),
    run: (args) => runInit(args),
  }),
  command({
    name: 'hook <name>',
    words: 'what git hooks run, with the pushed refs on stdin: "hook post-receive" deploys the branch once git accepted it; "hook pre-receive" (push: pre-receive) before, and git accepts the push only if the deploy succeeded',
    options: (y) => y.positional('name', { choices: HOOKS, demandOption: true }),
    run: (args) => (args.name === 'pre-receive' ? runPreReceiveHook(args.config, args.json) : runPostReceiveHook(args.config, args.json)),
  }),
  command({
    name: 'deploy [rev]',
    words: 'deploy REV (default: the branch tip) to every target, each from the commit it has',
    options: (y) =>
      y
        .positional('rev', { type: 'string', describe: 'any revision git resolves: sha, short sha, tag, main~3' })
        .option('full', FULL)
        .options(SAFETY_OPTIONS)
        .example('$0 deploy v1.4.2', 'put a tag live'),
    run: (args) => runDeploy(args),
  }),
  command({
    name: 'rollback [rev]',
    words: 'deploy the commit deployed before the current one (again: the one before that), or REV',
    options: (y) =>
      y
        .positional('rev', { type: 'string', describe: 'any revision git resolves, instead of the previous deploy' })
        .option('full', FULL)
        .options(SAFETY_OPTIONS)
        .example('$0 rollback', 'undo the last deploy')
        .example('$0 rollback v1.4.1', 'put a tag back'),
    run: (args) => runRollback(args),
  }),
  command({
    name: 'promote <from> <to>',
    words: 'deploy to stage TO exactly what stage FROM serves (with build: the same build); refused unless FROM serves it on every target and its checks passed',
    options: (y) =>
      y
        .positional('from', { type: 'string', demandOption: true, describe: 'the stage that proved the release (staging)' })
        .positional('to', { type: 'string', demandOption: true, describe: 'the stage that gets it (production)' })
        .option('full', FULL)
        .options(SAFETY_OPTIONS)
        .example('$0 promote staging production', 'production gets what staging serves'),
    run: (args) => runPromote(args),
  }),
  command({
    name: 'lock',
    words: 'take the deploy lock: every push and deploy is refused, with your reason, until fanout unlock (it survives reboots)',
    options: (y) =>
      y
        .option('message', { type: 'string', alias: 'm', demandOption: 'say why: fanout lock -m "incident 42: hands off"', describe: 'why, shown to whoever tries to deploy' })
        .option('all-stages', ALL_STAGES)
        .example('$0 lock -m "release freeze until Monday"', 'nobody deploys by accident'),
    run: (args) => runLock(args),
  }),
  command({
    name: 'unlock',
    words: 'lift the deploy lock fanout lock took',
    options: (y) => y.option('all-stages', ALL_STAGES),
    run: (args) => runUnlock(args),
  }),
  command({
    name: 'status',
    words: 'per target: the commit it has, since when, and ok / behind / failed / unknown; exit 1 unless all ok',
    options: (y) => y.option('prometheus', { type: 'boolean', default: false, describe: 'the metrics (as metrics.textfile holds them) in Prometheus text format, exit 0' }),
    run: (args) => runStatus(args),
  }),
  command({
    name: 'history [id]',
    words: 'past deploys, newest first: id, time, commit, reason, who, per-target outcome and why it failed; or deploy ID whole',
    options: (y) =>
      y
        .positional('id', { type: 'string', describe: 'one deploy, whole: who, when, what, each target, the rollout and the switch' })
        .option('limit', { type: 'number', default: 20, describe: 'how many deploys to show' })
        .example('$0 history 12', 'deploy #12: each target\'s time, files, bytes, attempts, outcome and reason'),
    run: (args) => {
      runHistory(args);
    },
  }),
  command({
    name: 'log',
    words: 'the log, a readable line per event: fanout log --follow, --deploy N, --level warn',
    options: (y) =>
      y
        .option('follow', { type: 'boolean', default: false, alias: 'f', describe: 'keep printing new lines as they are written (across a logrotate)' })
        .option('deploy', { type: 'number', describe: 'only the lines of deploy N (its id in fanout history)' })
        .option('level', { choices: ['info', 'warn', 'error'] as const, default: 'info' as const, describe: 'the least severe level shown: warn for retries and what went wrong, error for failures only' }),
    run: (args) => runLog(args),
  }),
  command({
    name: 'sync',
    words: 'bring targets (default: those not ok) to the source as it stands, each from its own commit',
    options: (y) => y.option('full', { ...FULL, describe: 'a full rsync --delete pass (all targets unless --target)' }).options(SAFETY_OPTIONS),
    run: (args) => runSync(args),
  }),
  command({
    name: 'verify',
    words: 'compare every target with the source (rsync --dry-run --checksum); exit 1 on any difference',
    options: (y) => y.option('all-slots', { type: 'boolean', default: false, describe: 'layout: slots: every slot against the commit it holds, not only what current serves' }),
    run: (args) => runVerify(args),
  }),
  command({
    name: 'watch',
    words: 'live mode for edits made outside git: inotify events on the source become rsync batches to every target',
    options: (y) => y.example('$0 watch --config /etc/fanout/fanout.yaml', 'run in the foreground (see config/fanout-watch.service)'),
    run: (args) => runWatch(args),
  }),
  command({
    name: 'doctor',
    words: 'check tools, config, password files, state directory, hook, and each target (a harmless write probe)',
    options: (y) => y,
    run: (args) => runDoctor(args),
  }),
  command({
    name: 'help [command]',
    words: 'the reference for COMMAND (docs/reference/commands.md), as text: fanout help watch',
    options: (y) => y.positional('command', { type: 'string', describe: 'a command: deploy, watch, ...' }),
    run: (args) => {
      runHelp(args.command, () => buildCli(['--help']).showHelp('log'));
    },
  }),
];

export function buildCli(argv: string[]): Argv<GlobalArgs> {
  let cli: Argv<GlobalArgs> = yargs(argv)
    .scriptName('fanout')
    .usage('$0 <command>\n\ngit push deploys a website to every host of a load-balanced farm through rsync.')
    .options(GLOBAL_OPTIONS);
  for (const c of COMMANDS) cli = c.add(cli);
  return cli
    .completion('completion', 'print the shell completion script (bash, or zsh when run from zsh): fanout completion >> ~/.bashrc', completer(argv, verbs()))
    .demandCommand(1, 'name a command')
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

/** The commands' names, as fanout --help lists them. */
function verbs(): string[] {
  return [...COMMANDS.map((c) => c.verb), 'completion'];
}

/** The options a command's builder declares, each with whether it takes a value, read by running the builder on a recorder. */
function declaredOptions(c: AddCommand): Map<string, boolean> {
  const found = new Map<string, boolean>();
  const record = (key: string, option: { type?: string }): void => {
    found.set(`--${key}`, option.type !== 'boolean');
  };
  const recorder = {
    option: (key: string, option: { type?: string }) => {
      record(key, option);
      return recorder;
    },
    options: (all: Record<string, { type?: string }>) => {
      for (const [key, option] of Object.entries(all)) record(key, option);
      return recorder;
    },
    positional: () => recorder,
    example: () => recorder,
  };
  c.options(recorder as unknown as Argv<GlobalArgs>);
  return found;
}

/** What the static completion script holds: every command, option and positional word of this table. */
export function completionWords(): CompletionWords {
  const global = Object.entries(GLOBAL_OPTIONS).map(([key, option]) => [`--${key}`, option.type !== 'boolean'] as const);
  const own = COMMANDS.map((c) => [c.verb, declaredOptions(c)] as const);
  const valued = new Set([...global, ...own.flatMap(([, options]) => [...options])].filter(([, takesValue]) => takesValue).map(([name]) => name));
  return {
    commands: verbs(),
    global: [...global.map(([name]) => name), '--help', '--version'],
    options: Object.fromEntries(own.filter(([, options]) => options.size > 0).map(([verb, options]) => [verb, [...options.keys()]])),
    positionals: { help: verbs(), hook: [...HOOKS] },
    valued: [...valued],
  };
}

/** `fanout completion` from bash (not zsh, whose script is yargs' own): the static script. */
function staticCompletion(argv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  const zsh = env.SHELL?.includes('zsh') === true || env.ZSH_NAME?.includes('zsh') === true;
  return argv.length === 1 && argv[0] === 'completion' && !zsh;
}

/** Every command but the hook's short path (main.ts): parse, run, and let errors reach main.ts. */
export async function runCommandLine(argv: string[]): Promise<void> {
  if (staticCompletion(argv, process.env)) process.stdout.write(bashCompletionScript(completionWords(), versionLine()));
  else await buildCli(argv).parseAsync();
}
