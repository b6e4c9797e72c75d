import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { CLI } from './farm.js';

/** A running `fanout watch`, with every line it printed (stderr lines prefixed "stderr: "). */
export interface Watcher {
  child: ResultPromise;
  lines: string[];
  /** SIGTERM, then its exit code */
  stop(): Promise<number | undefined>;
}

/**
 * Start `fanout watch` for a config; `wrap` runs it under another command (unshare, say). Waits for
 * `ready` (default: the "watching ..." line) unless told not to wait at all (ready: null).
 */
export async function startWatch(configFile: string, options: { wrap?: string[]; ready?: ((line: string) => boolean) | null } = {}): Promise<Watcher> {
  const argv = [...(options.wrap ?? []), process.execPath, CLI, '--config', configFile, 'watch'];
  const child = execa(argv[0] ?? process.execPath, argv.slice(1), { reject: false, buffer: false, stdin: 'ignore' });
  const lines: string[] = [];
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => lines.push(...chunk.split('\n').filter((l) => l !== '')));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => lines.push(`stderr: ${chunk}`));
  const watcher: Watcher = {
    child,
    lines,
    async stop() {
      child.kill('SIGTERM');
      return (await child).exitCode;
    },
  };
  const ready = options.ready === undefined ? (l: string) => l.startsWith('watching ') : options.ready;
  if (ready !== null) {
    try {
      await until(() => lines.some(ready), () => `watch did not start: ${lines.join('\n')}`);
    } catch (error) {
      await watcher.stop();
      throw error;
    }
  }
  return watcher;
}

/** Poll with a deadline instead of sleeping a fixed time. */
export async function until(done: () => boolean, why: () => string, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(why());
    await sleep(25);
  }
}
