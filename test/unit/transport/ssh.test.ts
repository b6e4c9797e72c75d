import { describe, expect, it } from 'vitest';
import { failureMessage } from '../../../src/transport/rsync-failure.js';
import { remoteCommand, sshCause, sshFailure } from '../../../src/transport/ssh.js';
import { target } from '../target.js';


const LOCAL = target('/srv/mirror/www');

const CLOSED = 'rsync: connection unexpectedly closed (0 bytes received so far) [sender]\nrsync error: unexplained error (code 255) at io.c(285) [sender=3.5.0]\n';
const SSH_STDERR = {
  unknown: `No ED25519 host key is known for [127.0.0.91]:2222 and you have requested strict checking.\nHost key verification failed.\n${CLOSED}`,
  changed: [
    '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
    '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
    '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
    'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!',
    'Add correct host key in /etc/fanout/known hosts to get rid of this message.',
    'Offending ED25519 key in /etc/fanout/known hosts:1',
    '  remove with:',
    '  ssh-keygen -f "/etc/fanout/known hosts" -R "[127.0.0.91]:2222"',
    'Host key for [127.0.0.91]:2222 has changed and you have requested strict checking.',
    'Host key verification failed.',
    CLOSED,
  ].join('\n'),
  denied: `deploy@127.0.0.91: Permission denied (publickey).\n${CLOSED}`,
  noKey: `no such identity: /keys/deploy key: No such file or directory\ndeploy@127.0.0.91: Permission denied (publickey).\n${CLOSED}`,
  badPerms: `Load key "/keys/deploy key": bad permissions\ndeploy@127.0.0.91: Permission denied (publickey).\n${CLOSED}`,
  refused: `ssh: connect to host 127.0.0.91 port 2222: Connection refused\n${CLOSED}`,
  timedOut: `ssh: connect to host 10.9.9.9 port 22: Connection timed out\n${CLOSED}`,
  noHost: `ssh: Could not resolve hostname web9: Name or service not known\n${CLOSED}`,
};

describe('remoteCommand', () => {
  it('quotes each argument for the remote shell: nothing in a pattern or a path is read by that shell', () => {
    const command = remoteCommand('rsync', ['--exclude=*.swp', '--filter=P uploads/', '--', "/srv/it's $(here)/", 'rsync://u@web1/site/']);
    expect(command).toBe(`rsync '--exclude=*.swp' '--filter=P uploads/' -- '/srv/it'"'"'s $(here)/' rsync://u@web1/site/`);
  });
});

describe('sshCause', () => {
  it('names what made ssh give up, with the line that says so', () => {
    expect(sshCause(SSH_STDERR.unknown)).toEqual({ cause: 'host key unknown', line: 'No ED25519 host key is known for [127.0.0.91]:2222 and you have requested strict checking.' });
    expect(sshCause(SSH_STDERR.changed)).toEqual({ cause: 'host key changed', line: 'Host key for [127.0.0.91]:2222 has changed and you have requested strict checking.' });
    expect(sshCause(SSH_STDERR.denied)).toEqual({ cause: 'login refused', line: 'deploy@127.0.0.91: Permission denied (publickey).' });
    expect(sshCause(SSH_STDERR.noKey)?.cause).toBe('login refused');
    expect(sshCause(SSH_STDERR.refused)).toEqual({ cause: 'unreachable', line: 'ssh: connect to host 127.0.0.91 port 2222: Connection refused' });
    expect(sshCause(SSH_STDERR.timedOut)?.cause).toBe('unreachable');
    expect(sshCause(SSH_STDERR.noHost)?.cause).toBe('unreachable');
  });

  it('a bare "Host key verification failed" is an untrusted host', () => {
    expect(sshCause('Host key verification failed.\n')?.cause).toBe('host key unknown');
  });

  it('does not take rsync’s own "Permission denied (13)" or a dropped connection for an ssh cause', () => {
    expect(sshCause('rsync: [Receiver] mkdir "/srv/x" failed: Permission denied (13)\n')).toBeUndefined();
    expect(sshCause('Connection to web2 closed by remote host.\nrsync: connection unexpectedly closed (81920 bytes received so far) [sender]\n')).toBeUndefined();
    expect(sshCause(CLOSED)).toBeUndefined();
    expect(sshCause('')).toBeUndefined();
  });
});

describe('sshFailure', () => {
  const edge = target('deploy@127.0.0.91:/srv/www', { ssh: { port: 2222, identityFile: '/keys/deploy key', knownHostsFile: '/etc/fanout/known hosts', strictHostKeyChecking: true } });

  it('an unknown host key: which host, which file, and the command that adds the key', () => {
    expect(sshFailure({ exitCode: 255, stderr: SSH_STDERR.unknown }, edge)).toBe(
      "ssh does not trust [127.0.0.91]:2222: its host key is not in /etc/fanout/known hosts (strict host key checking is on); check the key's fingerprint with the host's admin, then add it: ssh-keyscan -p 2222 127.0.0.91 >> '/etc/fanout/known hosts' (rsync exit 255: No ED25519 host key is known for [127.0.0.91]:2222 and you have requested strict checking.)",
    );
  });

  it('a changed host key: says so, and how to replace the old key once the change is known to be expected', () => {
    const message = sshFailure({ exitCode: 255, stderr: SSH_STDERR.changed }, edge) ?? '';
    expect(message).toMatch(/^ssh refused \[127\.0\.0\.91\]:2222: its host key has CHANGED from the one in \/etc\/fanout\/known hosts /);
    expect(message).toContain(`ssh-keygen -f '/etc/fanout/known hosts' -R '[127.0.0.91]:2222' && ssh-keyscan -p 2222 127.0.0.91 >> '/etc/fanout/known hosts'`);
    expect(message).not.toContain('@@@');
  });

  it('a refused login names the user, the host and the key', () => {
    expect(sshFailure({ exitCode: 255, stderr: SSH_STDERR.denied }, edge)).toBe(
      "ssh login as deploy on 127.0.0.91 refused: check that the public half of /keys/deploy key is in that user's authorized_keys on the host (rsync exit 255: deploy@127.0.0.91: Permission denied (publickey).)",
    );
    expect(sshFailure({ exitCode: 255, stderr: SSH_STDERR.noKey }, edge)).toMatch(/^ssh login as deploy on 127\.0\.0\.91 refused: the identity file \/keys\/deploy key cannot be read \(is ssh\.identityFile right\?\) \(rsync exit 255: /);
    expect(sshFailure({ exitCode: 255, stderr: SSH_STDERR.badPerms }, edge)).toContain("refused: ssh ignores the identity file /keys/deploy key because others can read it: chmod 600 '/keys/deploy key'");
  });

  it('an unreachable host names the port', () => {
    expect(sshFailure({ exitCode: 255, stderr: SSH_STDERR.refused }, edge)).toMatch(/^ssh cannot reach 127\.0\.0\.91 on port 2222: is sshd running there/);
  });

  it('without ssh options, speaks of the defaults', () => {
    const plain = target('web2:/srv/www');
    expect(sshFailure({ exitCode: 255, stderr: SSH_STDERR.unknown }, plain)).toContain('its host key is not in ~/.ssh/known_hosts (strict host key checking is on); check the key\'s fingerprint with the host\'s admin, then add it: ssh-keyscan web2 >> ~/.ssh/known_hosts');
    expect(sshFailure({ exitCode: 255, stderr: SSH_STDERR.denied }, plain)).toContain("ssh login as this user on web2 refused: check that the public half of this user's default ssh key");
  });

  it('is undefined for other failures and for targets that are not ssh', () => {
    expect(sshFailure({ exitCode: 255, stderr: CLOSED }, edge)).toBeUndefined();
    expect(sshFailure({ exitCode: 255, stderr: SSH_STDERR.unknown }, LOCAL)).toBeUndefined();
  });

  it('leads failureMessage for an ssh target’s exit 255, in one line', () => {
    const message = failureMessage({ exitCode: 255, stderr: SSH_STDERR.changed, spawnError: undefined }, edge);
    expect(message).toMatch(/^ssh refused /);
    expect(message).not.toContain('\n');
    // rsync may exit 12 rather than pass on ssh's 255: the cause is the same
    expect(failureMessage({ exitCode: 12, stderr: SSH_STDERR.denied, spawnError: undefined }, edge)).toMatch(/^ssh login as deploy on 127\.0\.0\.91 refused: .* \(rsync exit 12: deploy@127\.0\.0\.91: Permission denied \(publickey\)\.\)$/);
    // without a target, or without ssh's words, the table speaks
    expect(failureMessage({ exitCode: 255, stderr: SSH_STDERR.changed, spawnError: undefined })).toMatch(/^ssh failed: check the host/);
    expect(failureMessage({ exitCode: 12, stderr: CLOSED, spawnError: undefined }, edge)).toMatch(/^the connection broke off/);
  });
});
