import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger as log } from '../../../src/base/log.js';
import { announcedRsync, relayWatch } from '../../../src/transport/relay-watch.js';
import { alive, killStarted, remember } from '../processes.js';
import { argumentsOf } from '../../../harness/processes.js';

// The watch of the rsyncs a relay runs, with `sh -c` for ssh: the commands it sends the relay
// (grep of /proc/<pid>/io, kill) run here, on real processes standing in for the relay's rsync.

afterEach(() => {
  killStarted();
});

/** A process here, standing in for an rsync on the relay: its pid. */
function started(program: string, args: string[]): number {
  const child = spawn(program, args, { stdio: 'ignore' });
  if (child.pid === undefined) throw new Error(`${program} did not start`);
  remember(child.pid);
  return child.pid;
}

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('announcedRsync', () => {
  it('has a shell say its pid and become rsync, tied to the session where setpriv is, every argument quoted for that shell', () => {
    expect(announcedRsync(['-a', "/srv/it's $(here)/", 'rsync://u@web1/site/'])).toBe(
      `exec sh -c 'echo fanout-relay-pid $$; command -v setpriv >/dev/null && exec setpriv --pdeathsig KILL -- "$0" "$@"; exec "$0" "$@"' rsync -a '/srv/it'"'"'s $(here)/' rsync://u@web1/site/`,
    );
  });

  it('run by a shell, says the pid of the rsync it becomes, which the kernel kills once that shell\'s parent is gone', async () => {
    // a stand-in for sshd's session process: it runs the command line, and is then killed
    const session = spawn('sh', ['-c', `${announcedRsync(['--daemon', '--no-detach', '--address=127.0.0.1', '--port=0', '--config=/dev/null'])} & wait`], { stdio: ['ignore', 'pipe', 'ignore'] });
    if (session.pid === undefined) throw new Error('no shell');
    remember(session.pid);
    let out = '';
    session.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await until('the pid is said', () => /^fanout-relay-pid \d+\n/.test(out));
    const pid = Number(/\d+/.exec(out)?.[0]);
    remember(pid);
    await until('rsync runs under that pid', () => argumentsOf(pid)[0] === 'rsync');
    process.kill(session.pid, 'SIGKILL');
    await until('rsync is gone with it', () => !alive(pid));
  });
});

describe('relayWatch', () => {
  it('takes only the announced pid line from a pass\'s output, and only as its first', () => {
    const pass = relayWatch(['sh', '-c'], log).pass('web1', 60_000);
    expect(pass.announced('>f+++++++++ fanout-relay-pid 1')).toBe(false);
    expect(pass.announced('fanout-relay-pid 999999')).toBe(true);
    expect(pass.announced('fanout-relay-pid 999998')).toBe(false);
    pass.stop();
    expect(pass.stalled).toBe(false);
  });

  it('stops, where it runs, a pass that reads and writes nothing for its stall time; one that moves goes on', async () => {
    const watch = relayWatch(['sh', '-c'], log);
    const frozen = started('sleep', ['60']);
    // reads a little now and then all along (its children's reads count as its own once reaped)
    const busy = started('sh', ['-c', 'while :; do head -c 4096 /dev/zero >/dev/null; sleep 0.05; done']);
    const quietPass = watch.pass('web1', 1500);
    const busyPass = watch.pass('web2', 1500);
    quietPass.announced(`fanout-relay-pid ${frozen}`);
    busyPass.announced(`fanout-relay-pid ${busy}`);
    await until('the frozen one is stopped', () => !alive(frozen));
    expect(alive(busy)).toBe(true);
    quietPass.stop();
    busyPass.stop();
    expect(quietPass.stalled).toBe(true);
    expect(busyPass.stalled).toBe(false);
  });
});
