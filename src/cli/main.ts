#!/usr/bin/env node
/**
 * The entry point. Every git push starts it through a hook (post-receive, or pre-receive), so a
 * hook's call takes a short path that loads only what a deploy needs; the command-line parser and
 * the other commands are separate chunks (scripts/build.mjs), loaded for everything else.
 */
import { parseArgs } from 'node:util';
import { FanoutError, errorMessage } from '../base/errors.js';

/**
 * A hook's own call, `hook post-receive|pre-receive [--config FILE] [--json] [--verbose]` as
 * `fanout init` writes it: which hook, its config file and --json, or undefined for anything
 * else, which the full command line then parses (and explains, if it is wrong).
 */
function hookCall(argv: string[]): { hook: 'post-receive' | 'pre-receive'; config: string | undefined; json: boolean } | undefined {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { config: { type: 'string' }, json: { type: 'boolean' }, verbose: { type: 'boolean' } },
      allowPositionals: true,
    });
    const hook = positionals[1];
    if (positionals.length !== 2 || positionals[0] !== 'hook' || (hook !== 'post-receive' && hook !== 'pre-receive')) return undefined;
    return { hook, config: values.config, json: values.json ?? false };
  } catch {
    return undefined;
  }
}

async function main(argv: string[]): Promise<void> {
  // The hook inherits the pusher's umask: 000 would make every checked-out file 666, and rsync
  // --perms copies those modes to every web server. Files fanout keeps to itself set their own.
  process.umask(0o022);
  try {
    const hook = hookCall(argv);
    if (hook?.hook === 'post-receive') {
      await (await import('./commands/post-receive.js')).runPostReceiveHook(hook.config, hook.json);
    } else if (hook?.hook === 'pre-receive') {
      await (await import('./commands/pre-receive.js')).runPreReceiveHook(hook.config, hook.json);
    } else {
      // `fanout status | head -1`: the reader went away, which is no error of fanout's (the hook
      // instead carries on when its pusher hangs up)
      process.stdout.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      });
      await (await import('./commands.js')).runCommandLine(argv);
    }
  } catch (error) {
    if (error instanceof FanoutError) {
      // one line, whatever a quoted value held
      process.stderr.write(`fanout: ${error.message.replace(/\n/g, '\\n')}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    process.stderr.write(`fanout: internal error: ${errorMessage(error)}${argv.includes('--verbose') ? '' : ' (--verbose for details)'}\n`);
    if (argv.includes('--verbose') && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    process.exitCode = 70;
  }
}

await main(process.argv.slice(2));
