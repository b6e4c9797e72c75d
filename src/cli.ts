#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { loadConfig, type Config } from './config.js';
import { deploy, whoAmI, type Context } from './deploy.js';
import { FanoutError, errorMessage } from './errors.js';
import { onPostReceive, parsePushedRefs } from './hook.js';
import { init } from './init.js';
import type { HistoryEntry } from './journal.js';
import { openLog, silentLogger } from './log.js';
import { humanReporter, jsonReporter, stdoutOutput, type Reporter } from './report.js';

interface GlobalArgs {
  config: string | undefined;
  json: boolean;
  'dry-run': boolean;
  target: string[];
  verbose: boolean;
}

/** --config, else $FANOUT_CONFIG, else ./fanout.yaml: the working directory is read here only. */
function configPath(args: GlobalArgs): string {
  return path.resolve(args.config ?? process.env.FANOUT_CONFIG ?? 'fanout.yaml');
}

function contextFor(args: GlobalArgs, prefix = ''): Context & { config: Config; reporter: Reporter } {
  const config = loadConfig(configPath(args));
  const log = openLog(config.stateDir);
  const nameWidth = Math.max(...config.targets.map((t) => t.name.length), 4);
  const reporter = args.json ? jsonReporter(stdoutOutput()) : humanReporter(stdoutOutput(), nameWidth, prefix);
  return { config, log, reporter };
}

function exitFor(entry: HistoryEntry | undefined): number {
  return entry !== undefined && entry.targets.some((t) => t.status === 'failed') ? 1 : 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const withTargets = <T>(y: Argv<T>) =>
  y.option('full', { type: 'boolean', default: false, describe: 'a full rsync --delete pass instead of the changed paths' });

export function buildCli(argv: string[]): Argv<GlobalArgs> {
  return yargs(argv)
    .scriptName('fanout')
    .usage('$0 <command>\n\ngit push deploys a website to every host of a load-balanced farm through rsync.')
    .option('config', { type: 'string', describe: 'config file (default: $FANOUT_CONFIG, else ./fanout.yaml)' })
    .option('json', { type: 'boolean', default: false, describe: 'one JSON document on stdout' })
    .option('dry-run', { type: 'boolean', default: false, describe: 'show what would change, change nothing' })
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
        const lines = await init({ configFile: configPath(args), repo: args.repo, source: args.source, branch: args.branch });
        for (const line of lines) console.log(line);
      },
    )
    .command(
      'hook <name>',
      'what git hooks run: "hook post-receive" reads the pushed refs on stdin and deploys the branch',
      (y) => y.positional('name', { choices: ['post-receive'] as const, demandOption: true }),
      async (args) => {
        // The pusher may hang up (Ctrl-C, dropped ssh) mid-deploy: the deploy carries on to the
        // end and its record goes to the log; writes to the vanished pusher are dropped.
        process.on('SIGHUP', () => undefined);
        process.on('SIGINT', () => undefined);
        process.on('SIGPIPE', () => undefined);
        process.stdout.on('error', () => undefined);
        process.stderr.on('error', () => undefined);
        const refs = parsePushedRefs(await readStdin());
        const ctx = contextFor(args);
        const entry = await onPostReceive(ctx, refs);
        ctx.reporter.finish();
        process.exitCode = exitFor(entry);
      },
    )
    .command(
      'deploy [rev]',
      'deploy REV (default: the branch tip) to every target, each from the commit it has',
      (y) => withTargets(y).positional('rev', { type: 'string', describe: 'any revision git resolves: sha, tag, main~3' }),
      async (args) => {
        const ctx = contextFor(args);
        const entry = await deploy(
          ctx,
          { rev: args.rev, reason: 'manual', startedBy: whoAmI() },
          { dryRun: args['dry-run'], targets: args.target, full: args.full },
        );
        ctx.reporter.finish();
        process.exitCode = exitFor(entry);
      },
    )
    .demandCommand(1, 'name a command; see fanout --help')
    .strict()
    .recommendCommands()
    .help()
    .version(packageVersion())
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((message, error) => {
      if (error) throw error;
      throw new FanoutError(`${message} (see fanout --help)`);
    });
}

function packageVersion(): string {
  const file = new URL('../package.json', import.meta.url);
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

async function main(): Promise<void> {
  const argv = hideBin(process.argv);
  try {
    await buildCli(argv).parseAsync();
  } catch (error) {
    if (error instanceof FanoutError) {
      process.stderr.write(`fanout: ${error.message}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    silentLogger.error(error);
    process.stderr.write(`fanout: internal error: ${errorMessage(error)}${argv.includes('--verbose') ? '' : ' (--verbose for details)'}\n`);
    if (argv.includes('--verbose') && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    process.exitCode = 70;
  }
}

await main();
