import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../../src/base/exec.js';
import { silentLogger as log } from '../../../src/base/log.js';
import { alive, killStarted, remember } from '../processes.js';

// The exec seam on real child processes: what a child gets (environment, directory, stdin), what
// comes back (exit code, output, the log line), and what stops it (timeout, group timeout, stall).

afterEach(() => {
  killStarted();
});

/** A logger that keeps its records, for the lines run() writes. */
function recordingLogger(): { logger: typeof log; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => records.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, records };
}

describe('run', () => {
  it('returns the exit code as data, with stdout and stderr, and logs the command', async () => {
    const { logger, records } = recordingLogger();
    const result = await run('sh', ['-c', 'echo out; echo err >&2; exit 23'], { log: logger });
    expect(result).toMatchObject({ exitCode: 23, stdout: 'out\n', stderr: 'err\n', timedOut: false, spawnError: undefined, stalled: false });
    expect(records.find((r) => r.msg === 'exec')).toMatchObject({ command: 'sh', args: ['-c', 'echo out; echo err >&2; exit 23'], exitCode: 23, timedOut: false });
  });

  it('starts the child in / with only the inherited environment, or the one given', async () => {
    const result = await run('sh', ['-c', 'pwd; echo "${RSYNC_RSH-unset}"'], { log });
    expect(result.stdout).toBe('/\nunset\n');
    const given = await run('sh', ['-c', 'pwd; echo "$ONLY"'], { log, cwd: '/tmp', env: { ONLY: 'this', PATH: '/usr/bin:/bin' } });
    expect(given.stdout).toBe('/tmp\nthis\n');
  });

  it('starts a program by the path its PATH gives, once looked up, with argv[0] and the PATH as they were', async () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-exec-'));
    try {
      fs.writeFileSync(path.join(bin, 'probe'), '#!/bin/sh\necho "$0 $PATH"\n', { mode: 0o755 });
      const env = { PATH: `/nonexistent:${bin}:/usr/bin:/bin` };
      const result = await run('probe', [], { log, env });
      // a shell script's $0 is the path the kernel ran it by: the one found once, not probed again
      expect(result.stdout).toBe(`${path.join(bin, 'probe')} ${env.PATH}\n`);
      const argv0 = await run('sh', ['-c', 'tr "\\0" " " < /proc/$$/cmdline'], { log });
      expect(argv0.stdout).toBe('sh -c tr "\\0" " " < /proc/$$/cmdline ');
      // removed: looked up again, and said to be missing
      fs.rmSync(path.join(bin, 'probe'));
      expect((await run('probe', [], { log, env })).spawnError).toBe('cannot start probe: not found (is it installed, and on the PATH?)');
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });

  it('passes input, or deferred input once it settles', async () => {
    expect((await run('cat', [], { log, input: 'now' })).stdout).toBe('now');
    let give: (data: string) => void = () => undefined;
    const deferredInput = new Promise<string | Buffer>((resolve) => (give = resolve));
    const child = run('cat', [], { log, deferredInput });
    setTimeout(() => {
      give('later');
    }, 50);
    expect((await child).stdout).toBe('later');
  });

  it('streams lines, NUL-ended as bytes for binary output, without buffering them', async () => {
    const lines: string[] = [];
    const errors: string[] = [];
    const result = await run('sh', ['-c', "printf 'a\\0\\351\\0tail'; printf 'e1\\ne2' >&2"], { log, binary: true, lineEnd: '\0', onLine: (l) => lines.push(l), onStderrLine: (l) => errors.push(l) });
    expect(lines).toEqual(['a', '\u00e9', 'tail']);
    expect(errors).toEqual(['e1', 'e2']);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('');
  });

  it('says why a program cannot be started', async () => {
    const result = await run('fanout-no-such-program', [], { log });
    expect(result.spawnError).toBe('cannot start fanout-no-such-program: not found (is it installed, and on the PATH?)');
    expect(result.exitCode).toBe(128);
  });

  it('stops a child at its timeout: exit 124', async () => {
    const result = await run('sleep', ['10'], { log, timeoutMs: 200 });
    expect(result).toMatchObject({ exitCode: 124, timedOut: true, spawnError: undefined });
  });

  it('with killGroup, stops the whole group at the timeout: exit 124, nothing left behind', async () => {
    let background = 0;
    const result = await run('sh', ['-c', 'sleep 30 >/dev/null 2>&1 & echo $!; sleep 30'], {
      log,
      killGroup: true,
      timeoutMs: 300,
      onLine: (line) => {
        background = Number(line);
        remember(background);
      },
    });
    expect(result).toMatchObject({ exitCode: 124, timedOut: true, spawnError: undefined });
    expect(background).toBeGreaterThan(1);
    expect(alive(background)).toBe(false);
  });

  it('stops a child that neither reads nor writes for stallMs, and says so in the log', async () => {
    const { logger, records } = recordingLogger();
    const result = await run('sleep', ['10'], { log: logger, stallMs: 200 });
    expect(result).toMatchObject({ stalled: true, timedOut: false, exitCode: 128 });
    expect(records.find((r) => r.msg === 'no I/O from the child; stopping it')).toMatchObject({ command: 'sleep', stallMs: 200 });
  });
});
