import type { Target } from '../base/config.js';
import { sshCause, sshFailure } from './ssh.js';

/**
 * rsync's documented exit codes, each as a sentence that says what to check. 23 and 24 are failures
 * here: files did not arrive (lsyncd counts them as success and loses files).
 */
const EXIT_MEANING: Record<number, string> = {
  1: 'rsync rejected its arguments',
  2: 'protocol incompatibility between the two rsync versions',
  3: 'cannot select files or directories (does the destination path exist on the target?)',
  4: 'the remote rsync does not support this action',
  5: 'the daemon refused the session: wrong user or password, unknown module, or this host not in "hosts allow"',
  6: 'the daemon cannot write its log file',
  10: 'cannot connect: is the rsync daemon (or sshd) running and reachable?',
  11: 'file I/O error on the target (disk full or permission denied?)',
  12: 'the connection broke off mid-transfer (the remote rsync died or the network dropped)',
  13: 'errors with program diagnostics',
  14: 'error in rsync IPC code',
  20: 'rsync was stopped by a signal',
  21: 'rsync waitpid() error',
  22: 'rsync could not allocate memory',
  23: 'partial transfer: some files did not arrive',
  24: 'some source files vanished while they were being sent',
  25: 'the --max-delete limit stopped deletions',
  30: 'timed out waiting for the target to send or receive data',
  35: 'timed out waiting for the daemon to answer',
  124: 'rsync did not finish within its time limit and was stopped',
  255: 'ssh failed: check the host, user, key and known_hosts',
};

const RETRYABLE = new Set([10, 12, 30, 35, 124, 255]);

/**
 * Worth another attempt: a connection that broke or timed out, or a daemon that was busy, may work a
 * moment later; a host key ssh does not trust, or a key it refuses, will be the same in two seconds.
 */
export function isRetryable(exitCode: number, stderr: string): boolean {
  // a daemon at its "max connections" refuses with exit 5, like a wrong password, but frees up
  if (stderr.includes('@ERROR: max connections')) return true;
  if (!RETRYABLE.has(exitCode)) return false;
  const ssh = sshCause(stderr)?.cause;
  return ssh === undefined || ssh === 'unreachable';
}

/** Refused before the transfer began: bad session (5), no daemon answer (35), no connection (10, by its words). */
export function failedBeforeTransfer(exitCode: number, stderr: string): boolean {
  if (exitCode === 5 || exitCode === 35) return true;
  // 255 is ssh's exit passed on; 12 when rsync saw the pipe close before it reaped ssh (a race)
  if (exitCode === 255 || exitCode === 12) return sshCause(stderr) !== undefined;
  return exitCode === 10 && /Connection refused|failed to connect|No route to host|Name or service not known|Temporary failure in name resolution/.test(stderr);
}

export function exitMeaning(exitCode: number): string {
  return EXIT_MEANING[exitCode] ?? `rsync failed with exit code ${exitCode}`;
}

/**
 * The line of rsync's stderr that says most: the daemon's @ERROR, else the first "rsync:" complaint,
 * else the last line. rsync never sees a password on its command line, so none can show here.
 */
export function rsyncComplaint(stderr: string): string | undefined {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const meaningful = lines.filter((l) => !/^rsync error: .*\(code \d+\)/.test(l));
  return (
    meaningful.find((l) => l.startsWith('@ERROR')) ??
    meaningful.find((l) => l.startsWith('rsync:') || l.startsWith('ssh:')) ??
    meaningful.at(-1) ??
    lines.at(-1)
  );
}

/**
 * Causes that rsync's exit code alone hides or misnames, read from the line that states them: a
 * read-only module exits 1 ("rejected its arguments"), a full disk 11 or 23, a daemon's refusal 5
 * for four different reasons. The first pattern that matches a line of stderr wins.
 */
const STDERR_CAUSES: readonly (readonly [RegExp, string])[] = [
  [/No space left on device|Disk quota exceeded/, "the target's disk is full (or over quota): free space there, then deploy again"],
  [/Read-only file system \(30\)/, "the target's file system is mounted read-only"],
  [/module is read only/, 'the daemon module is read-only: set "read only = no" in its rsyncd.conf section'],
  [/Permission denied \(13\)/, 'permission denied on the target: the receiving side (the module\'s "uid", or the ssh user) cannot write there'],
  // checked before "auth failed": the daemon authenticated, then could not enter the module's path
  [/@ERROR: (chroot|chdir) failed/, 'the module\'s path is missing on the target, or not accessible to the daemon\'s uid: create it (owned by that uid) or fix "path" in rsyncd.conf'],
  [/@ERROR: auth failed/, 'the daemon refused the user or password: check passwordFile against the module\'s "secrets file" and "auth users"'],
  [/@ERROR: Unknown module/, 'the daemon has no such module: check the dest against the [sections] of its rsyncd.conf'],
  [/@ERROR: access denied to/, 'the daemon\'s "hosts allow" does not let this host in'],
  [/@ERROR: max connections/, 'the daemon is at its "max connections" limit'],
  [/could not make way for /, 'a directory on the target must become a file but holds protected or excluded content, which is never deleted'],
];

/** The operator's sentence for a failed rsync: its cause (from stderr, else the exit code), then rsync's own words. */
export function failureMessage(result: { exitCode: number; stderr: string; spawnError: string | undefined }, target?: Pick<Target, 'dest' | 'ssh'>): string {
  if (result.spawnError !== undefined) return result.spawnError;
  const ssh = target === undefined ? undefined : sshFailure(result, target);
  if (ssh !== undefined) return ssh;
  const lines = result.stderr.split('\n').map((l) => l.trim());
  for (const [pattern, cause] of STDERR_CAUSES) {
    const line = lines.find((l) => pattern.test(l));
    if (line !== undefined) return `${cause} (rsync exit ${result.exitCode}: ${line})`;
  }
  const detail = result.spawnError ?? rsyncComplaint(result.stderr);
  return `${exitMeaning(result.exitCode)} (rsync exit ${result.exitCode}${detail === undefined ? '' : `: ${detail}`})`;
}
