/**
 * The benchmark's own network namespace: `npm run bench` re-executes itself under `unshare -n`
 * (root only), brings its loopback up, and so owns every address of 127.0.0.0/8: a thousand
 * targets on 127.0.1.x never clash with another run's, and nothing can reach a non-loopback
 * address, since the namespace has no other interface. Where no namespace can be made (not
 * root, a container without CAP_SYS_ADMIN, no unshare or ip), the run stays on the host's loopback
 * and says so; the scenarios that need the namespace refuse with one line.
 */
import fs from 'node:fs';
import { execa } from 'execa';

/** Set in the re-executed benchmark: it is in the namespace, and must not try again. */
const MARK = 'FANOUT_BENCH_NETNS';

/** Devices the kernel makes in every new namespace when their tunnel modules are loaded: down, no address. */
const FALLBACK_DEVICES = new Set(['lo', 'sit0', 'tunl0', 'ip6tnl0', 'gre0', 'gretap0', 'erspan0', 'ip6gre0', 'ip_vti0', 'ip6_vti0']);

/**
 * True when this process's network namespace has no interface but the loopback: one of our own
 * (or the caller's `unshare -n`), where nothing can reach another address. Read from
 * /proc/self/net/dev, which lists the devices of the reader's namespace; /proc/PID/ns links are not
 * readable in every sandbox.
 */
export function inPrivateNetns(): boolean {
  const lines = fs.readFileSync('/proc/self/net/dev', 'utf8').split('\n').slice(2);
  const devices = lines.map((l) => l.split(':')[0]?.trim() ?? '').filter((d) => d !== '');
  return devices.every((d) => FALLBACK_DEVICES.has(d));
}

async function works(command: string, args: string[]): Promise<string | undefined> {
  const result = await execa(command, args, { reject: false, stdin: 'ignore' });
  return result.exitCode === 0 ? undefined : (result.stderr.trim().split('\n')[0] ?? `exit ${result.exitCode}`) || `${command} failed`;
}

/**
 * Re-runs this very command (node, its loader flags, the script and its arguments) in a new
 * network namespace and returns its exit code; undefined when the caller should go on where it
 * is: already in a private namespace, or none can be made (`why` says what stopped it).
 */
export async function reexecInNetns(): Promise<{ exitCode: number } | { exitCode: undefined; why: string | undefined }> {
  if (inPrivateNetns()) return { exitCode: undefined, why: undefined };
  if (process.env[MARK] !== undefined) return { exitCode: undefined, why: 'unshare -n ran, yet this is the host namespace' };
  if (process.getuid?.() !== 0) return { exitCode: undefined, why: 'not root: unshare -n needs CAP_SYS_ADMIN' };
  const cannot = (await works('unshare', ['-n', 'true'])) ?? (await works('ip', ['-V']));
  if (cannot !== undefined) return { exitCode: undefined, why: cannot };
  const child = await execa('unshare', ['-n', '--', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    reject: false,
    stdio: 'inherit',
    env: { [MARK]: '1' },
  });
  return { exitCode: child.exitCode ?? 1 };
}

/** A new namespace's loopback starts down: up, or nothing on 127.0.0.0/8 answers. */
export async function loopbackUp(): Promise<void> {
  if (inPrivateNetns()) await execa('ip', ['link', 'set', 'lo', 'up']);
}
