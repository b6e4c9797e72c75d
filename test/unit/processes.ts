import { spawn } from 'node:child_process';
import fs from 'node:fs';

// Real processes for the tests of process groups and the lock: each started here is killed by
// killStarted(), whatever the test did with it.

const started: number[] = [];

/** Note a pid for killStarted (a background process a test learnt of). */
export function remember(pid: number): void {
  started.push(pid);
}

/** SIGKILL to every process the test started that still runs. */
export function killStarted(): void {
  for (const pid of started.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** A sleep in a process group of its own, as a killed fanout's rsync would be left: its pid. */
export function detachedSleep(): number {
  const child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
  child.unref();
  if (child.pid === undefined) throw new Error('sleep did not start');
  remember(child.pid);
  return child.pid;
}

/** A group whose leader (sh) has exited, leaving a background sleep in it. */
export async function leaderlessSleep(): Promise<{ leader: number; member: number }> {
  const child = spawn('sh', ['-c', 'sleep 30 >/dev/null & echo $!'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await new Promise((resolve) => child.on('close', resolve));
  const member = Number(out.trim());
  if (child.pid === undefined || !(member > 1)) throw new Error('no background sleep');
  remember(member);
  return { leader: child.pid, member };
}

/** /proc/PID/stat's fields from the third (state) on, counted from 0. */
export function statFields(pid: number | 'self'): string[] {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** Running: there, and not a zombie nobody has reaped yet (an orphan's reaper may be slow, or none). */
export function alive(pid: number): boolean {
  try {
    return statFields(pid)[0] !== 'Z';
  } catch {
    return false;
  }
}
