import fs from 'node:fs';

/** Every process below pid, from /proc: what a server forked for its connections, and what they run. */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // "pid (comm) state ppid ...": comm may hold spaces, so read after its closing parenthesis
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // exited while we looked
    }
  }
  const found: number[] = [];
  const walk = (parent: number): void => {
    for (const child of children.get(parent) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

/** A process's arguments (none for one that has exited, or is a zombie). */
export function argumentsOf(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').slice(0, -1);
  } catch {
    return [];
  }
}

/** Stops a process (SIGSTOP) and returns once the kernel says it is stopped, or gone. */
export async function stopped(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGSTOP');
  } catch {
    return;
  }
  for (let i = 0; i < 200; i += 1) {
    let state: string | undefined;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
      state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    } catch {
      return;
    }
    if (state === 'T' || state === 'Z') return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A signal to one process; one already gone is no error. */
export function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

/** A signal to a process and every process below it. */
export function signalTree(pid: number, signal: NodeJS.Signals): void {
  for (const p of [...descendantsOf(pid), pid]) signalQuietly(p, signal);
}

/**
 * A process and every process below it killed at once (a server's death, as the kernel closes its
 * sockets). Stopped first, it forks nothing between the look at its children and their end: a
 * connection it took in between would outlive it.
 */
export async function killTree(pid: number): Promise<void> {
  await stopped(pid);
  signalTree(pid, 'SIGKILL');
}
