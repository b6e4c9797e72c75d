import type { Target } from '../base/config.js';

/**
 * rsync splits its --rsh value on white space itself, honouring quotes (no shell is involved);
 * paths are quoted for that parser.
 */
export function sshCommand(target: Pick<Target, 'ssh' | 'timeout'>): string {
  return sshWords(target).map(quoteForRsh).join(' ');
}

/** ssh and its options for a target or a relay, as an argument array; with a control path, riding that master's connection. */
export function sshWords({ ssh, timeout }: Pick<Target, 'ssh' | 'timeout'>): string[] {
  const parts = ['ssh', '-o', 'BatchMode=yes', '-o', `ConnectTimeout=${Math.ceil(timeout)}`];
  parts.push('-o', `StrictHostKeyChecking=${ssh.strictHostKeyChecking ? 'yes' : 'no'}`);
  if (ssh.port !== undefined) parts.push('-p', String(ssh.port));
  // -o IdentityFile rather than -i: ssh drops an -i path it cannot stat as written, before it
  // expands %-tokens in it, so a key named "100%" could never be given with -i
  if (ssh.identityFile !== undefined) parts.push('-o', `IdentityFile=${sshConfigWord(ssh.identityFile)}`, '-o', 'IdentitiesOnly=yes');
  if (ssh.knownHostsFile !== undefined) parts.push('-o', `UserKnownHostsFile=${sshConfigWord(ssh.knownHostsFile)}`);
  if (ssh.controlPath !== undefined) parts.push('-o', `ControlPath=${sshConfigWord(ssh.controlPath)}`, '-o', 'ControlMaster=no');
  return parts;
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

export function quoteForRsh(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'"'"'`)}'`;
}

/**
 * What ssh runs on a host: a program with these arguments, each quoted for the remote user's shell
 * (ssh hands the host one command line). File names never appear here: they go on stdin.
 */
export function remoteCommand(program: string, args: readonly string[]): string {
  return [program, ...args].map(quoteForRsh).join(' ');
}

/** ssh's argument array up to the host (`sshWords` and the host), and the command line it runs there: what to start here. */
export function sshRunning(words: readonly string[], remote: string): { command: string; args: string[] } {
  return { command: words[0] ?? 'ssh', args: [...words.slice(1), remote] };
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
export function sshFailure({ exitCode, stderr }: { exitCode: number; stderr: string }, target: Pick<Target, 'dest' | 'ssh'>, program = 'rsync'): string | undefined {
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
  return `${why} (${program} exit ${exitCode}: ${found.line})`;
}
