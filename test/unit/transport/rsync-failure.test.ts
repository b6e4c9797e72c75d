import { describe, expect, it } from 'vitest';
import { spawnFailure } from '../../../src/base/exec.js';
import { exitMeaning, failedBeforeTransfer, failureMessage, isRetryable, rsyncComplaint } from '../../../src/transport/rsync-failure.js';

describe('exitMeaning', () => {
  it('explains the codes an operator meets', () => {
    expect(exitMeaning(5)).toMatch(/password/);
    expect(exitMeaning(5)).toMatch(/module/);
    expect(exitMeaning(10)).toMatch(/connect/);
    expect(exitMeaning(23)).toMatch(/partial transfer/);
    expect(exitMeaning(24)).toMatch(/vanished/);
    expect(exitMeaning(30)).toMatch(/timed out/);
    expect(exitMeaning(35)).toMatch(/timed out waiting for the daemon/);
  });

  it('gives each code its own sentence', () => {
    const sentences = [5, 10, 23, 24, 30, 35].map(exitMeaning);
    expect(new Set(sentences).size).toBe(sentences.length);
  });

  it('names an unknown code', () => {
    expect(exitMeaning(99)).toBe('rsync failed with exit code 99');
  });
});

describe('rsyncComplaint', () => {
  it('prefers the daemon @ERROR over rsync’s generic error line', () => {
    const stderr = '@ERROR: auth failed on module web1\nrsync error: error starting client-server protocol (code 5) at main.c(1863) [sender=3.2.7]\n';
    expect(rsyncComplaint(stderr)).toBe('@ERROR: auth failed on module web1');
  });

  it('prefers the @ERROR over other complaints around it', () => {
    const stderr = [
      'rsync: [sender] warning: something minor',
      "@ERROR: Unknown module 'web9'",
      'rsync: connection closed',
      'rsync error: error starting client-server protocol (code 5) at main.c(1863) [sender=3.2.7]',
    ].join('\n');
    expect(rsyncComplaint(stderr)).toBe("@ERROR: Unknown module 'web9'");
  });

  it('prefers an "rsync:" complaint over the generic line', () => {
    const stderr = [
      'rsync: [Receiver] mkdir "/srv/x" failed: Permission denied (13)',
      'rsync error: error in file IO (code 11) at main.c(791) [Receiver=3.2.7]',
    ].join('\n');
    expect(rsyncComplaint(stderr)).toBe('rsync: [Receiver] mkdir "/srv/x" failed: Permission denied (13)');
  });

  it('picks an ssh complaint', () => {
    const stderr = 'ssh: connect to host 127.0.0.9 port 22: Connection refused\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]\nrsync error: unexplained error (code 255) at io.c(232) [sender=3.2.7]\n';
    expect(rsyncComplaint(stderr)).toBe('ssh: connect to host 127.0.0.9 port 22: Connection refused');
  });

  it('falls back to the generic line when it is all there is', () => {
    const generic = 'rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1338) [sender=3.2.7]';
    expect(rsyncComplaint(`${generic}\n`)).toBe(generic);
  });

  it('falls back to the last other line', () => {
    expect(rsyncComplaint('  first\n  second  \n\n')).toBe('second');
  });

  it('is undefined for empty stderr', () => {
    expect(rsyncComplaint('')).toBeUndefined();
    expect(rsyncComplaint('\n  \n')).toBeUndefined();
  });
});

describe('failedBeforeTransfer', () => {
  it('is true for a refused session or a daemon that never answered', () => {
    expect(failedBeforeTransfer(5, '@ERROR: auth failed on module web1\n')).toBe(true);
    expect(failedBeforeTransfer(35, '')).toBe(true);
  });

  it('is true for exit 10 only when rsync says the connection was never made', () => {
    expect(failedBeforeTransfer(10, 'rsync: failed to connect to 127.0.0.9 (127.0.0.9): Connection refused (111)\n')).toBe(true);
    expect(failedBeforeTransfer(10, 'rsync: getaddrinfo: nohost 873: Name or service not known\n')).toBe(true);
    expect(failedBeforeTransfer(10, 'rsync: read error: Connection reset by peer (104)\n')).toBe(false);
  });

  it('is false once a transfer may have begun', () => {
    for (const code of [12, 23, 24, 30, 255]) expect(failedBeforeTransfer(code, 'Connection refused')).toBe(false);
  });

  it('is true for exit 255 when ssh gave up before the remote rsync started', () => {
    expect(failedBeforeTransfer(255, 'Host key verification failed.\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]\n')).toBe(true);
    expect(failedBeforeTransfer(255, 'root@h: Permission denied (publickey).\n')).toBe(true);
    expect(failedBeforeTransfer(255, 'ssh: connect to host h port 22: Connection refused\n')).toBe(true);
    // rsync exits 12 instead when it sees the pipe close before it reaps ssh
    expect(failedBeforeTransfer(12, 'root@h: Permission denied (publickey).\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]\n')).toBe(true);
    expect(failedBeforeTransfer(255, 'Connection to h closed by remote host.\nrsync: connection unexpectedly closed (5120 bytes received so far) [sender]\n')).toBe(false);
  });
});

describe('failureMessage', () => {
  it('says what the code means, then rsync’s own words', () => {
    const message = failureMessage({ exitCode: 12, stderr: 'rsync: [sender] write error: Broken pipe (32)\nrsync error: error in rsync protocol data stream (code 12) at io.c(848) [sender=3.5.0]\n', spawnError: undefined });
    expect(message).toBe(`${exitMeaning(12)} (rsync exit 12: rsync: [sender] write error: Broken pipe (32))`);
  });

  // stderr as rsync 3.5.0 writes it for each cause, from real daemons
  const causes: [string, number, string, RegExp][] = [
    ['a wrong password', 5, '@ERROR: auth failed on module web1\nrsync error: error starting client-server protocol (code 5) at main.c(1954) [sender=3.5.0]', /refused the user or password: check passwordFile/],
    ['an unknown module', 5, "@ERROR: Unknown module 'nope'\nrsync error: error starting client-server protocol (code 5) at main.c(1954) [sender=3.5.0]", /no such module/],
    ['a host outside hosts allow', 5, '@ERROR: access denied to web1 from localhost (127.0.0.1)\nrsync error: error starting client-server protocol (code 5)', /"hosts allow"/],
    ['a read-only module (exit 1, which alone would read as bad arguments)', 1, 'ERROR: module is read only\nrsync error: syntax or usage error (code 1) at main.c(1185) [Receiver=3.5.0]\nrsync: [sender] read error: Connection reset by peer (104)', /module is read-only: set "read only = no"/],
    ['a full disk', 11, 'rsync: [receiver] write failed on "f19.bin" (in full): No space left on device (28)\nrsync error: error in file IO (code 11) at receiver.c(657) [receiver=3.5.0]', /disk is full/],
    ['a directory the daemon user cannot write', 23, 'rsync: [receiver] mkstemp ".f1.bin.LZCovj" (in perm) failed: Permission denied (13)\nrsync error: some files/attrs were not transferred (see previous errors) (code 23)', /permission denied on the target/],
  ];
  for (const [what, exitCode, stderr, sentence] of causes) {
    it(`names the cause of ${what}, quoting the line that states it`, () => {
      const message = failureMessage({ exitCode, stderr, spawnError: undefined });
      expect(message).toMatch(sentence);
      expect(message).toContain(`(rsync exit ${exitCode}: ${stderr.split('\n')[0] ?? ''})`);
      expect(message).not.toContain('\n');
    });
  }

  it('a module whose path is missing or closed to the daemon is said so, not taken for a password problem', () => {
    for (const line of ['@ERROR: chroot failed', '@ERROR: chdir failed']) {
      const message = failureMessage({ exitCode: 5, stderr: `${line}\nrsync error: error starting client-server protocol (code 5)\n`, spawnError: undefined });
      expect(message).toMatch(/^the module's path is missing on the target, or not accessible to the daemon's uid/);
      expect(message).not.toMatch(/password/);
    }
  });

  it('a program that could not start is said in its own sentence, by its errno', () => {
    expect(failureMessage({ exitCode: 128, stderr: '', spawnError: spawnFailure('rsync', { code: 'ENOENT' }) })).toBe('cannot start rsync: not found (is it installed, and on the PATH?)');
    expect(spawnFailure('flock', { code: 'EACCES' })).toMatch(/^cannot start flock: permission denied \(EACCES: /);
    expect(spawnFailure('git', { code: 'E2BIG' })).toBe('cannot start git: E2BIG');
  });

  it('works without any detail', () => {
    expect(failureMessage({ exitCode: 23, stderr: '', spawnError: undefined })).toBe(`${exitMeaning(23)} (rsync exit 23)`);
  });
});

describe('isRetryable', () => {
  it('retries a broken or timed-out connection', () => {
    for (const code of [10, 12, 30, 35]) expect(isRetryable(code, 'rsync: [sender] read error: Connection reset by peer (104)')).toBe(true);
    expect(isRetryable(255, 'ssh: connect to host 127.0.0.9 port 22: Connection refused')).toBe(true);
    expect(isRetryable(5, '@ERROR: max connections (2) reached -- try again later')).toBe(true);
  });

  it('does not retry what a retry cannot change: auth, a read-only module, a full disk, ssh trust and login', () => {
    expect(isRetryable(5, '@ERROR: auth failed on module web1')).toBe(false);
    expect(isRetryable(11, 'rsync: [receiver] write failed on "f" (in full): No space left on device (28)')).toBe(false);
    expect(isRetryable(23, 'rsync: [receiver] mkstemp ".f" (in perm) failed: Permission denied (13)')).toBe(false);
    expect(isRetryable(255, 'No ED25519 host key is known for [127.0.0.91]:2222 and you have requested strict checking.\nHost key verification failed.')).toBe(false);
    expect(isRetryable(12, 'root@127.0.0.91: Permission denied (publickey).\nrsync: connection unexpectedly closed (0 bytes received so far) [sender]')).toBe(false);
  });
});
