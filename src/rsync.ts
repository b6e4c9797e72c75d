import type { Config, Target } from './config.js';
import { rsyncDestArg } from './dest.js';
import { run } from './exec.js';
import type { Logger } from './log.js';
import { filesFromList, type RsyncPass } from './plan.js';

export interface RsyncOutcome {
  exitCode: number;
  ok: boolean;
  /** the operator's sentence for a failure, from the exit-code table and rsync's own words */
  error: string | undefined;
  retryable: boolean;
  /** it failed before anything could be transferred: the target is exactly as it was */
  untouched: boolean;
  sent: number;
  deleted: number;
  /** files and directories deleted, as --max-delete counts them */
  deletions: number;
  bytes: number;
  /** rsync's itemized lines (`>f+++++++++ path`, `*deleting   path`): what was, or would be, done */
  items: string[];
  durationMs: number;
  /** a directory rsync could not replace by a file because protected or excluded content stays in it */
  blockedBy: string | undefined;
  /** what rsync's --debug=FILTER said it protected (local receivers only: a daemon caps debug output) */
  protectedNames: string[];
}

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

export interface RsyncArgsInput {
  config: Pick<Config, 'source' | 'exclude' | 'protect' | 'owner' | 'rsync'>;
  /** rsync's own --max-delete, a backstop behind the deploy's check of the plan */
  maxDelete?: number | undefined;
  target: Target;
  pass: RsyncPass;
  dryRun: boolean;
  /** extra flags for this call only (verify's itemizing dry run) */
  extra?: readonly string[];
}

/**
 * The argument array for one target. Symlinks, permissions and file times are kept; directory
 * times are not (they change with every add or delete and mean nothing to a web server).
 * --delay-updates puts every changed file in place at the end, so a web server never sees a
 * half-copied set.
 *
 * Every pass runs in a --delete mode: only then does rsync send its filter rules (protect,
 * exclude) to a remote receiver, and without them a directory replaced by a file (--force) loses
 * its protected contents on a daemon or ssh target.
 */
export function rsyncArgs({ config, target, pass, dryRun, maxDelete, extra = [] }: RsyncArgsInput): string[] {
  const args = ['--links', '--perms', '--times', '--omit-dir-times', '--force', '--delay-updates', '--mkpath', '--out-format=%i %l %n'];
  if (config.owner) args.push('--owner', '--group');
  if (maxDelete !== undefined) args.push(`--max-delete=${maxDelete}`);
  if (dryRun) args.push('--dry-run');
  args.push(...connectionArgs(target));
  for (const pattern of config.exclude) args.push(`--exclude=${pattern}`);
  for (const pattern of config.protect) args.push(`--filter=P ${pattern}`);
  switch (pass.kind) {
    case 'full':
      args.push('--recursive', '--delete', '--delete-delay');
      if (pass.checksum === true) args.push('--checksum');
      break;
    case 'send':
      // Only the named paths, contents compared (two same-size edits in one second would pass
      // rsync's size+mtime quick check). No directory is named with a trailing slash, so --delete
      // has nothing to compare and deletes nothing but what a file must replace.
      args.push('--files-from=-', '--from0', '--checksum', '--delete');
      break;
    case 'prune':
      // Each listed directory (`dir/`) is compared entry by entry and what the source lacks there
      // is deleted; --existing with --ignore-existing sends nothing at all.
      args.push('--files-from=-', '--from0', '--dirs', '--delete', '--existing', '--ignore-existing');
      break;
  }
  args.push(...config.rsync.args, ...extra);
  args.push('--', withSlash(config.source), rsyncDestArg(target.dest));
  return args;
}

/** How to reach a target: timeouts, the daemon password file, the ssh command. */
export function connectionArgs(target: Target): string[] {
  const args = [`--timeout=${Math.ceil(target.timeout)}`];
  if (target.dest.kind === 'daemon') {
    // rsync's protocol is many small request/response exchanges: with Nagle's algorithm each one
    // can wait out the peer's delayed ACK (40 ms on Linux). Measured on loopback: a one-file sync
    // takes 60 ms with TCP_NODELAY, 150 ms without.
    args.push('--sockopts=TCP_NODELAY');
    args.push(`--contimeout=${Math.ceil(target.timeout)}`);
    if (target.passwordFile !== undefined) args.push(`--password-file=${target.passwordFile}`);
  }
  if (target.dest.kind === 'ssh') {
    // The remote path reaches the far side through the remote user's shell. rsync >= 3.2.4 escapes
    // it by default, but RSYNC_OLD_ARGS=1 in the environment (the pusher's, which the hook inherits)
    // turns that off and lets a path like "$(cmd)" run cmd there (test/integration/ssh.test.ts).
    // -s (--secluded-args) sends names through rsync's protocol instead, whatever the environment.
    args.push('-s', '--rsh', sshCommand(target));
  }
  return args;
}

/** What rsync reads on stdin: the pass's file list, none for a full pass. */
export function rsyncInput(pass: RsyncPass): Buffer | undefined {
  return pass.kind === 'full' ? undefined : filesFromList(pass);
}

/**
 * rsync splits its --rsh value on white space itself, honouring quotes (no shell is involved);
 * paths are quoted for that parser.
 */
export function sshCommand(target: Target): string {
  const parts = ['ssh', '-o', 'BatchMode=yes', '-o', `ConnectTimeout=${Math.ceil(target.timeout)}`];
  parts.push('-o', `StrictHostKeyChecking=${target.ssh.strictHostKeyChecking ? 'yes' : 'no'}`);
  if (target.ssh.port !== undefined) parts.push('-p', String(target.ssh.port));
  // -o IdentityFile rather than -i: ssh drops an -i path it cannot stat as written, before it
  // expands %-tokens in it, so a key named "100%" could never be given with -i
  if (target.ssh.identityFile !== undefined) parts.push('-o', `IdentityFile=${sshConfigWord(target.ssh.identityFile)}`, '-o', 'IdentitiesOnly=yes');
  if (target.ssh.knownHostsFile !== undefined) parts.push('-o', `UserKnownHostsFile=${sshConfigWord(target.ssh.knownHostsFile)}`);
  return parts.map(quoteForRsh).join(' ');
}

/**
 * A file name as one word of an ssh option: ssh splits an -o value on white space itself (so
 * UserKnownHostsFile=/a b is two files), honouring double quotes and \-escapes, then expands
 * %-tokens (%h, %u, ...) in it, so a literal % is written %%.
 */
function sshConfigWord(file: string): string {
  if (/^[\w@+=:,./-]+$/.test(file)) return file;
  return `"${file.replace(/%/g, '%%').replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function quoteForRsh(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'"'"'`)}'`;
}

export type SshCause = 'host key unknown' | 'host key changed' | 'login refused' | 'unreachable';

/**
 * Why ssh gave up, from the line of ssh's stderr that says so; undefined for anything else (a
 * connection lost mid-transfer). Every cause here stops ssh before the remote rsync starts. rsync
 * adds "connection unexpectedly closed" after ssh's words, a consequence, and exits 255 (ssh's
 * code) or 12, whichever it notices first.
 */
export function sshCause(stderr: string): { cause: SshCause; line: string } | undefined {
  const lines = stderr.split('\n').map((l) => l.trim());
  const causes: [SshCause, RegExp][] = [
    // checked first: ssh also prints "Host key verification failed." after a changed key
    ['host key changed', /^Host key for .* has changed/],
    ['host key changed', /REMOTE HOST IDENTIFICATION HAS CHANGED/],
    ['host key unknown', /^No \S+ host key is known for |^Host key verification failed/],
    // ssh's "(publickey,password)", never rsync's "Permission denied (13)"
    ['login refused', /Permission denied \([a-z-]+(,[a-z-]+)*\)/],
    ['unreachable', /^ssh: connect to host .*: (Connection refused|Connection timed out|No route to host)|^ssh: Could not resolve hostname/],
  ];
  for (const [cause, pattern] of causes) {
    const line = lines.find((l) => pattern.test(l));
    if (line !== undefined) return { cause, line };
  }
  return undefined;
}

/** The operator's sentence for an ssh failure: what went wrong with which file, and the command that fixes it. */
export function sshFailure({ exitCode, stderr }: { exitCode: number; stderr: string }, target: Pick<Target, 'dest' | 'ssh'>): string | undefined {
  const found = sshCause(stderr);
  if (found === undefined || target.dest.kind !== 'ssh') return undefined;
  const { host, user } = target.dest;
  const port = target.ssh.port;
  // how ssh names the host in known_hosts and in its messages
  const hostName = port === undefined || port === 22 ? host : `[${host}]:${port}`;
  const knownHosts = target.ssh.knownHostsFile ?? '~/.ssh/known_hosts';
  const shownFile = target.ssh.knownHostsFile === undefined ? knownHosts : quoteForRsh(knownHosts);
  const keyscan = `ssh-keyscan ${port === undefined ? '' : `-p ${port} `}${host} >> ${shownFile}`;
  const key = target.ssh.identityFile ?? "this user's default ssh key";
  const why = ((): string => {
    switch (found.cause) {
      case 'host key unknown':
        return `ssh does not trust ${hostName}: its host key is not in ${knownHosts} (strict host key checking is on); check the key's fingerprint with the host's admin, then add it: ${keyscan}`;
      case 'host key changed':
        return `ssh refused ${hostName}: its host key has CHANGED from the one in ${knownHosts} (a reinstalled host, or someone in between); if the change is expected, check the new fingerprint, then replace the old key: ssh-keygen -f ${shownFile} -R '${hostName}' && ${keyscan}`;
      case 'login refused': {
        const refused = `ssh login as ${user ?? 'this user'} on ${host} refused`;
        if (/^no such identity: |Identity file .* not accessible/m.test(stderr)) return `${refused}: the identity file ${key} cannot be read (is ssh.identityFile right?)`;
        if (/bad permissions/.test(stderr)) return `${refused}: ssh ignores the identity file ${key} because others can read it: chmod 600 ${quoteForRsh(key)}`;
        return `${refused}: check that the public half of ${key} is in that user's authorized_keys on the host`;
      }
      case 'unreachable':
        return `ssh cannot reach ${host} on port ${port ?? 22}: is sshd running there, and is ssh.port right?`;
    }
  })();
  return `${why} (rsync exit ${exitCode}: ${found.line})`;
}

export interface ItemizedCounts {
  sent: number;
  deleted: number;
  /** every `*deleting` line, directories included */
  deletions: number;
  /** bytes of the files sent (their full length; rsync's delta transfer may move fewer) */
  bytes: number;
  /** the itemized lines as `%i %n`, names escaped by rsync (\#ooo for unprintable bytes) */
  lines: string[];
}

/**
 * Counts what --out-format='%i %l %n' reports, line by line as rsync prints it: a file sent
 * (`<f`/`>f`), a symlink or device created (`cL`, `cD`, `cS`), a deletion (`*deleting`).
 * Directory entries are not counted. Lines are kept only when asked (a dry run's listing), so a
 * full pass over a million files costs no memory.
 */
export class ItemCounter implements ItemizedCounts {
  sent = 0;
  deleted = 0;
  deletions = 0;
  bytes = 0;
  readonly lines: string[] = [];
  /** rsync's own words when --max-delete stopped it: a daemon says so and still exits 0 */
  maxDeleteStop: string | undefined;
  readonly protectedNames: string[] = [];

  constructor(private readonly keepLines: boolean) {}

  add(line: string): void {
    const m = /^([<>ch.][fdLDS].{9}|\*deleting {2}) (\d+) (.+)$/.exec(line);
    if (m === null) {
      this.notItemized(line);
      return;
    }
    const [, item = '', length = '0', name = ''] = m;
    if (this.keepLines) this.lines.push(`${item} ${name}`);
    const type = item.charAt(1);
    if (item.startsWith('*deleting')) {
      this.deletions += 1;
      if (!name.endsWith('/')) this.deleted += 1;
      return;
    }
    if (type === 'd') return;
    const update = item.charAt(0);
    if (update === '<' || update === '>' || (update === 'c' && type !== 'f') || update === 'h') {
      this.sent += 1;
      if (type === 'f') this.bytes += Number(length);
    } else if (update === '.' && /[pogax]/.test(item.slice(5))) {
      // the contents were equal but the mode (chmod +x), owner or group changed: that is a change too
      this.sent += 1;
    }
  }

  private notItemized(line: string): void {
    if (MAX_DELETE_STOP.test(line)) this.maxDeleteStop ??= line.trim();
    const guarded = /^\[\w+\] protecting (?:file|directory) (.+) because of pattern /.exec(line);
    if (guarded?.[1] !== undefined && this.protectedNames.length < 20) this.protectedNames.push(guarded[1]);
  }
}

const MAX_DELETE_STOP = /Deletions stopped due to --max-delete limit/;

export function parseItemized(stdout: string): ItemizedCounts {
  const counter = new ItemCounter(true);
  for (const line of stdout.split('\n')) counter.add(line);
  return counter;
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

export interface RunRsyncInput extends RsyncArgsInput {
  log: Logger;
  rsyncPath: string;
  /** keep the itemized lines (dry runs, verify) */
  keepItems?: boolean;
  /** called as files go by, for a progress line */
  onProgress?: (counts: ItemizedCounts) => void;
}

export async function runRsync(input: RunRsyncInput): Promise<RsyncOutcome> {
  const args = rsyncArgs(input);
  const counts = new ItemCounter(input.keepItems === true);
  const onLine = (line: string): void => {
    counts.add(line);
    input.onProgress?.(counts);
  };
  // rsync's own --timeout bounds a silent peer, but not a frozen one (see watchForStall)
  const stallSeconds = Math.ceil(input.target.timeout) + 1;
  const ran = await run(input.rsyncPath, args, { log: input.log, input: rsyncInput(input.pass) ?? '', onLine, stallMs: stallSeconds * 1000 });
  const result = ran.stalled ? { ...ran, exitCode: 30 } : ran;
  const maxDeleteStop = counts.maxDeleteStop ?? result.stderr.split('\n').find((l) => MAX_DELETE_STOP.test(l))?.trim();
  const ok = result.exitCode === 0 && maxDeleteStop === undefined;
  const error = ok
    ? undefined
    : ran.stalled
      ? `${exitMeaning(30)} (nothing from the target for ${stallSeconds}s: its rsync is frozen or gone; fanout stopped the transfer)`
      : maxDeleteStop !== undefined
        ? `rsync stopped deleting at --max-delete=${input.maxDelete ?? '?'}, so files the commit removed are still served there (${maxDeleteStop}); check the commit, then: fanout deploy --max-delete N`
        : failureMessage(result, input.target);
  return {
    items: counts.lines,
    exitCode: result.exitCode,
    ok,
    error,
    retryable: !ok && isRetryable(result.exitCode, result.stderr),
    untouched: !ok && (result.spawnError !== undefined || failedBeforeTransfer(result.exitCode, result.stderr)),
    sent: counts.sent,
    deleted: counts.deleted,
    deletions: counts.deletions,
    bytes: counts.bytes,
    durationMs: result.durationMs,
    blockedBy: /^could not make way for (?:new )?[\w ]+?: (.+)$/m.exec(result.stderr)?.[1]?.trim(),
    protectedNames: counts.protectedNames,
  };
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

/** The path an itemized line (`%i %n`, as kept by ItemCounter) is about. */
export function itemPath(line: string): string {
  return line.slice(12);
}

function withSlash(p: string): string {
  return p.endsWith('/') ? p : `${p}/`;
}
