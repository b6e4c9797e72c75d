import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config, Target } from '../../src/config.js';
import { parseDest } from '../../src/dest.js';
import type { RsyncPass } from '../../src/plan.js';
import { spawnFailure } from '../../src/exec.js';
import { ItemCounter, itemPath, parseItemized } from '../../src/itemize.js';
import { connectionArgs, rsyncArgs, rsyncInput } from '../../src/rsync-args.js';
import { exitMeaning, failedBeforeTransfer, failureMessage, isRetryable, rsyncComplaint } from '../../src/rsync-failure.js';
import { sshCause, sshCommand, sshFailure } from '../../src/ssh.js';

type RsyncConfig = Pick<Config, 'source' | 'exclude' | 'protect' | 'owner' | 'rsync'>;

const baseConfig: RsyncConfig = { source: '/data/www', exclude: [], protect: [], owner: false, rsync: { path: 'rsync', args: [] } };

function target(dest: string, overrides: Partial<Target> = {}): Target {
  return {
    name: 'web1',
    dest: parseDest(dest),
    passwordFile: undefined,
    timeout: 30,
    ssh: { port: undefined, identityFile: undefined, knownHostsFile: undefined, strictHostKeyChecking: true },
    ...overrides,
  };
}

const FULL = { kind: 'full' } as const satisfies RsyncPass;
const PATHS = { kind: 'send', paths: ['css', 'css/a.css', 'index.html'] } as const satisfies RsyncPass;
const PRUNE = { kind: 'prune', directories: ['.', 'docs'] } as const satisfies RsyncPass;
const LOCAL = target('/srv/mirror/www');

describe('rsyncArgs: the plan', () => {
  it('a full plan recurses and deletes, with no file list', () => {
    const args = rsyncArgs({ config: baseConfig, target: LOCAL, pass: FULL, dryRun: false });
    expect(args).toEqual(expect.arrayContaining(['--recursive', '--delete', '--delete-delay']));
    expect(args.some((a) => a.startsWith('--files-from'))).toBe(false);
    expect(args).not.toContain('--from0');
    expect(args).not.toContain('--delete-missing-args');
    expect(args).not.toContain('--checksum');
  });

  it('a full plan the operator asked for compares contents', () => {
    const args = rsyncArgs({ config: baseConfig, target: LOCAL, pass: { kind: 'full', checksum: true }, dryRun: false });
    expect(args).toEqual(expect.arrayContaining(['--recursive', '--delete', '--delete-delay', '--checksum']));
    expect(args.some((a) => a.startsWith('--files-from'))).toBe(false);
  });

  it('a send pass reads a NUL-separated list from stdin and compares contents, in a --delete mode so the filters reach the receiver', () => {
    const args = rsyncArgs({ config: baseConfig, target: LOCAL, pass: PATHS, dryRun: false });
    expect(args).toEqual(expect.arrayContaining(['--files-from=-', '--from0', '--checksum', '--delete']));
    expect(args).not.toContain('--recursive');
    expect(args).not.toContain('-r');
    expect(args).not.toContain('--dirs');
    expect(args).not.toContain('--delete-missing-args');
    expect(args).not.toContain('--delete-delay');
    expect(args.some((a) => a.startsWith('-a') || a === '--archive')).toBe(false);
  });

  it('a prune pass compares the listed directories entry by entry and sends nothing', () => {
    const args = rsyncArgs({ config: baseConfig, target: LOCAL, pass: PRUNE, dryRun: false });
    expect(args).toEqual(expect.arrayContaining(['--files-from=-', '--from0', '--dirs', '--delete', '--existing', '--ignore-existing']));
    expect(args).not.toContain('--recursive');
    expect(args).not.toContain('--delete-missing-args');
  });

  it('every pass runs in a --delete mode, so protect and exclude rules reach a remote receiver', () => {
    const config = { ...baseConfig, protect: ['uploads/'], exclude: ['*.swp'] };
    for (const pass of [FULL, PATHS, PRUNE]) {
      const args = rsyncArgs({ config, target: target('web1::site'), pass, dryRun: false });
      expect(args).toContain('--delete');
      expect(args).toEqual(expect.arrayContaining(['--filter=P uploads/', '--exclude=*.swp']));
    }
  });

  it('keeps symlinks, permissions and times, and prints itemized changes', () => {
    for (const pass of [FULL, PATHS, PRUNE]) {
      const args = rsyncArgs({ config: baseConfig, target: LOCAL, pass, dryRun: false });
      expect(args).toEqual(expect.arrayContaining(['--links', '--perms', '--times', '--out-format=%i %l %n']));
    }
  });

  it('ends with "--", the source with a trailing slash, then the destination', () => {
    for (const source of ['/data/www', '/data/www/']) {
      const args = rsyncArgs({ config: { ...baseConfig, source }, target: LOCAL, pass: FULL, dryRun: false });
      expect(args.slice(-3)).toEqual(['--', '/data/www/', '/srv/mirror/www/']);
      expect(args.indexOf('--')).toBe(args.length - 3);
    }
  });

  it('puts every option before "--"', () => {
    const config: RsyncConfig = { ...baseConfig, exclude: ['*.swp'], protect: ['uploads/'], owner: true, rsync: { path: 'rsync', args: ['--compress'] } };
    const args = rsyncArgs({ config, target: target('deploy@web2:/data/www'), pass: PATHS, dryRun: true, extra: ['--itemize-changes'] });
    const dashdash = args.indexOf('--');
    expect(args.slice(0, dashdash).every((a, i) => a.startsWith('-') || args[i - 1] === '--rsh')).toBe(true);
    expect(args.slice(dashdash + 1)).toEqual(['/data/www/', 'deploy@web2:/data/www/']);
  });
});

describe('rsyncArgs: options from the config and the call', () => {
  it('adds --dry-run only for a dry run', () => {
    expect(rsyncArgs({ config: baseConfig, target: LOCAL, pass: FULL, dryRun: true })).toContain('--dry-run');
    expect(rsyncArgs({ config: baseConfig, target: LOCAL, pass: FULL, dryRun: false })).not.toContain('--dry-run');
    expect(rsyncArgs({ config: baseConfig, target: LOCAL, pass: FULL, dryRun: false }).some((a) => a === '-n')).toBe(false);
  });

  it('keeps owner and group only when owner is true', () => {
    const withOwner = rsyncArgs({ config: { ...baseConfig, owner: true }, target: LOCAL, pass: FULL, dryRun: false });
    expect(withOwner).toEqual(expect.arrayContaining(['--owner', '--group']));
    const without = rsyncArgs({ config: baseConfig, target: LOCAL, pass: FULL, dryRun: false });
    expect(without).not.toContain('--owner');
    expect(without).not.toContain('--group');
    expect(without).not.toContain('-o');
    expect(without).not.toContain('-g');
  });

  it('passes excludes as --exclude= and protected paths as a P filter', () => {
    const config: RsyncConfig = { ...baseConfig, exclude: ['*.swp', '.git/'], protect: ['uploads/', 'cache/*.tmp'] };
    for (const pass of [FULL, PATHS, PRUNE]) {
      const args = rsyncArgs({ config, target: LOCAL, pass, dryRun: false });
      expect(args).toEqual(expect.arrayContaining(['--exclude=*.swp', '--exclude=.git/', '--filter=P uploads/', '--filter=P cache/*.tmp']));
      expect(args.filter((a) => a.startsWith('--exclude'))).toHaveLength(2);
      expect(args.filter((a) => a.startsWith('--filter'))).toHaveLength(2);
    }
  });

  it('passes the configured extra rsync arguments and the call’s extra flags', () => {
    const config: RsyncConfig = { ...baseConfig, rsync: { path: 'rsync', args: ['--compress', '--bwlimit=1000'] } };
    const args = rsyncArgs({ config, target: LOCAL, pass: FULL, dryRun: true, extra: ['--itemize-changes'] });
    expect(args).toEqual(expect.arrayContaining(['--compress', '--bwlimit=1000', '--itemize-changes']));
    expect(args.indexOf('--itemize-changes')).toBeLessThan(args.indexOf('--'));
  });
});

describe('rsyncArgs: reaching the target', () => {
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-rsync-test-'));
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a daemon target gets its password file, a connect timeout, and no ssh', () => {
    const t = target('www1@192.168.9.226::web1', { passwordFile: '/etc/www1.pwd', timeout: 12 });
    const args = rsyncArgs({ config: baseConfig, target: t, pass: FULL, dryRun: false });
    expect(args).toEqual(expect.arrayContaining(['--password-file=/etc/www1.pwd', '--contimeout=12', '--timeout=12']));
    expect(args).not.toContain('--rsh');
    expect(args.some((a) => a.startsWith('-e'))).toBe(false);
    expect(args.at(-1)).toBe('rsync://www1@192.168.9.226/web1/');
  });

  it('a daemon target without a password file gets no --password-file', () => {
    const args = rsyncArgs({ config: baseConfig, target: target('web1::site'), pass: FULL, dryRun: false });
    expect(args.some((a) => a.startsWith('--password-file'))).toBe(false);
    expect(args).toContain('--contimeout=30');
  });

  it('rounds fractional timeouts up to whole seconds', () => {
    const args = rsyncArgs({ config: baseConfig, target: target('web1::site', { timeout: 2.5 }), pass: FULL, dryRun: false });
    expect(args).toEqual(expect.arrayContaining(['--timeout=3', '--contimeout=3']));
  });

  it('an ssh target gets a non-interactive ssh command', () => {
    const t = target('deploy@192.168.9.228:/data/www/', {
      timeout: 7,
      ssh: { port: 2222, identityFile: '/root/.ssh/id_deploy', knownHostsFile: '/etc/fanout/known_hosts', strictHostKeyChecking: true },
    });
    const args = rsyncArgs({ config: baseConfig, target: t, pass: PATHS, dryRun: false });
    const at = args.indexOf('--rsh');
    expect(at).toBeGreaterThanOrEqual(0);
    const rsh = args[at + 1] ?? '';
    expect(rsh.startsWith('ssh ')).toBe(true);
    expect(rsh).toContain('-o BatchMode=yes');
    expect(rsh).toContain('-o StrictHostKeyChecking=yes');
    expect(rsh).toContain('-o ConnectTimeout=7');
    expect(rsh).toContain('-p 2222');
    expect(rsh).toContain('-o IdentityFile=/root/.ssh/id_deploy');
    expect(rsh).toContain('-o IdentitiesOnly=yes');
    expect(rsh).toContain('-o UserKnownHostsFile=/etc/fanout/known_hosts');
    // names go through rsync's protocol, never the remote shell, whatever RSYNC_OLD_ARGS says
    expect(args).toContain('-s');
    expect(args).not.toContain('--contimeout=7');
    expect(args.some((a) => a.startsWith('--password-file'))).toBe(false);
    expect(args.at(-1)).toBe('deploy@192.168.9.228:/data/www/');
  });

  it('an ssh target with defaults gets no port or identity', () => {
    const rsh = sshCommand(target('web2:/data/www'));
    expect(rsh).toBe('ssh -o BatchMode=yes -o ConnectTimeout=30 -o StrictHostKeyChecking=yes');
  });

  it('turns host key checking off only when asked', () => {
    const t = target('web2:/data/www', { ssh: { port: undefined, identityFile: undefined, knownHostsFile: undefined, strictHostKeyChecking: false } });
    expect(sshCommand(t)).toContain('-o StrictHostKeyChecking=no');
  });

  it('quotes a path with a space for ssh’s option parser, then for rsync’s --rsh parser', () => {
    const t = target('web2:/data/www', { ssh: { port: undefined, identityFile: '/keys/my key', knownHostsFile: '/known hosts', strictHostKeyChecking: true } });
    const rsh = sshCommand(t);
    // ssh reads UserKnownHostsFile=/known hosts as two files, "/known" and "hosts"
    expect(rsh).toContain(`-o 'IdentityFile="/keys/my key"'`);
    expect(rsh).toContain(`-o 'UserKnownHostsFile="/known hosts"'`);
  });

  it('quotes a single quote in a path the shell way', () => {
    const t = target('web2:/data/www', { ssh: { port: undefined, identityFile: `/keys/o'neil`, knownHostsFile: undefined, strictHostKeyChecking: true } });
    expect(sshCommand(t)).toContain(`-o 'IdentityFile="/keys/o'"'"'neil"'`);
  });

  it('escapes what ssh itself would read in a path: double quotes, backslashes and %-tokens', () => {
    const t = target('web2:/data/www', { ssh: { port: undefined, identityFile: '/keys/100% "a"\\b', knownHostsFile: '/kh/%h', strictHostKeyChecking: true } });
    const rsh = sshCommand(t);
    expect(rsh).toContain(`-o 'IdentityFile="/keys/100%% \\"a\\"\\\\b"'`);
    expect(rsh).toContain(`-o 'UserKnownHostsFile="/kh/%%h"'`);
  });

  it('a local target gets neither ssh nor daemon options', () => {
    const args = rsyncArgs({ config: baseConfig, target: LOCAL, pass: FULL, dryRun: false });
    expect(args).not.toContain('--rsh');
    expect(args).not.toContain('-s');
    expect(args.some((a) => a.startsWith('--password-file') || a.startsWith('--contimeout'))).toBe(false);
    expect(args).toContain('--timeout=30');
  });

  it('never puts the password itself in an argument or on stdin', () => {
    const secret = 'Sup3r-S3cret-pa55word';
    const file = path.join(dir, 'www1.pwd');
    fs.writeFileSync(file, `${secret}\n`);
    fs.chmodSync(file, 0o600);
    const t = target('rsync://www1@127.0.0.2:8730/web1/', { passwordFile: file });
    for (const pass of [FULL, PATHS, PRUNE]) {
      for (const dryRun of [false, true]) {
        const args = rsyncArgs({ config: baseConfig, target: t, pass, dryRun });
        expect(args).toContain(`--password-file=${file}`);
        expect(args.filter((a) => a.includes(secret))).toEqual([]);
        expect(rsyncInput(pass)?.toString('latin1') ?? '').not.toContain(secret);
      }
    }
  });
});

describe('rsyncInput', () => {
  it('is the NUL-terminated path list for a send or prune pass', () => {
    expect(rsyncInput(PATHS)?.toString('latin1')).toBe('./css\0./css/a.css\0./index.html\0');
    expect(rsyncInput({ kind: 'send', paths: ['a b\nc'] })?.toString('latin1')).toBe('./a b\nc\0');
    expect(rsyncInput(PRUNE)?.toString('latin1')).toBe('./\0./docs/\0');
  });

  it('is nothing for a full pass', () => {
    expect(rsyncInput(FULL)).toBeUndefined();
  });
});

describe('parseItemized', () => {
  // as rsync 3.x prints --out-format='%i %l %n' (captured from a real run)
  const FULL_PASS = [
    '.d..t...... 4096 ./',
    'cd+++++++++ 4096 dir/',
    '>f+++++++++ 2 a',
    '>f+++++++++ 10 dir/b',
    'cL+++++++++ 1 link',
    '.d..t...... 4096 sub/',
    '>f..t...... 300 sub/q',
    '<f.st...... 7 pushed file.html',
    '*deleting   0 olddir/z',
    '*deleting   0 olddir/',
    '*deleting   0 old.html',
    '',
  ].join('\n');

  it('counts files and symlinks sent and files deleted, not directories', () => {
    const counts = parseItemized(FULL_PASS);
    expect(counts.sent).toBe(5);
    expect(counts.deleted).toBe(2);
  });

  it('adds up the length of the files sent, not of directories or symlinks', () => {
    expect(parseItemized(FULL_PASS).bytes).toBe(2 + 10 + 300 + 7);
  });

  it('keeps every itemized line as "%i %n", without the length', () => {
    const counts = parseItemized(FULL_PASS);
    expect(counts.lines).toEqual([
      '.d..t...... ./',
      'cd+++++++++ dir/',
      '>f+++++++++ a',
      '>f+++++++++ dir/b',
      'cL+++++++++ link',
      '.d..t...... sub/',
      '>f..t...... sub/q',
      '<f.st...... pushed file.html',
      '*deleting   olddir/z',
      '*deleting   olddir/',
      '*deleting   old.html',
    ]);
    expect(counts.lines.map(itemPath)).toEqual(['./', 'dir/', 'a', 'dir/b', 'link', 'sub/', 'sub/q', 'pushed file.html', 'olddir/z', 'olddir/', 'old.html']);
  });

  it('keeps a name with spaces and digits whole', () => {
    const counts = parseItemized('>f+++++++++ 5 2024 report 7.pdf\n*deleting   0 old 1.html\n');
    expect(counts.lines.map(itemPath)).toEqual(['2024 report 7.pdf', 'old 1.html']);
    expect(counts.bytes).toBe(5);
  });

  it('counts hard links and devices created', () => {
    expect(parseItemized('hf+++++++++ 3 hard\ncD+++++++++ 0 dev\ncS+++++++++ 0 sock\n').sent).toBe(3);
  });

  it('counts a mode, owner or group change as sent (chmod +x is a change), a time-only change not', () => {
    const counts = parseItemized('.f...p..... 2 chmodded\n.L..t...... 1 link\n.f..t...... 5 touched\n.f....o.... 3 chowned\n');
    expect(counts.sent).toBe(2);
    expect(counts.bytes).toBe(0);
    expect(counts.lines).toEqual(['.f...p..... chmodded', '.L..t...... link', '.f..t...... touched', '.f....o.... chowned']);
  });

  it('counts every deletion for --max-delete, directories included, and files alone as deleted', () => {
    const counts = parseItemized('*deleting   4 a/b.html\n*deleting   0 a/\n*deleting   1 c\n');
    expect(counts.deleted).toBe(2);
    expect(counts.deletions).toBe(3);
  });

  it('notices rsync stopping at --max-delete, and what --debug=FILTER says it protected', () => {
    const counter = new ItemCounter(false);
    for (const line of ['[generator] protecting directory blog/uploads because of pattern uploads/', 'Deletions stopped due to --max-delete limit (3 skipped)']) counter.add(line);
    expect(counter.protectedNames).toEqual(['blog/uploads']);
    expect(counter.maxDeleteStop).toBe('Deletions stopped due to --max-delete limit (3 skipped)');
  });

  it('skips rsync chatter that is not an itemized line', () => {
    const stdout = [
      'sending incremental file list',
      'created directory /srv/mirror/www',
      '',
      'sent 1,234 bytes  received 56 bytes  2,580.00 bytes/sec',
      'total size is 9,876  speedup is 7.65',
      '>f+++++++++ 4 real',
    ].join('\n');
    const counts = parseItemized(stdout);
    expect([counts.sent, counts.deleted, counts.bytes, counts.lines]).toEqual([1, 0, 4, ['>f+++++++++ real']]);
  });

  it('reads nothing from empty output', () => {
    const counts = parseItemized('');
    expect([counts.sent, counts.deleted, counts.bytes, counts.lines]).toEqual([0, 0, 0, []]);
  });

  it('keeps rsync-escaped names as printed', () => {
    expect(parseItemized('>f+++++++++ 1 line\\#012break\n').lines).toEqual(['>f+++++++++ line\\#012break']);
  });
});

describe('ItemCounter', () => {
  it('counts line by line, keeping no lines unless asked', () => {
    const counter = new ItemCounter(false);
    for (const line of ['>f+++++++++ 2 a', 'cd+++++++++ 4096 dir/', '*deleting   0 old.html', 'cL+++++++++ 1 link']) counter.add(line);
    expect([counter.sent, counter.deleted, counter.bytes]).toEqual([2, 1, 2]);
    expect(counter.lines).toEqual([]);
  });

  it('keeps lines when asked', () => {
    const counter = new ItemCounter(true);
    counter.add('>f+++++++++ 2 a');
    expect(counter.lines).toEqual(['>f+++++++++ a']);
  });
});

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

describe('connection options', () => {
  it('daemon connections turn Nagle off (each small exchange would otherwise wait out a delayed ACK)', () => {
    const daemon = { name: 'w', dest: { kind: 'daemon', user: 'u', host: 'h', port: undefined, module: 'm', path: '' }, passwordFile: '/p', timeout: 30, ssh: { port: undefined, identityFile: undefined, knownHostsFile: undefined, strictHostKeyChecking: true } } as const;
    expect(connectionArgs({ ...daemon, dest: { ...daemon.dest } })).toContain('--sockopts=TCP_NODELAY');
    expect(connectionArgs({ ...daemon, passwordFile: undefined, dest: { kind: 'local', path: '/x' } })).not.toContain('--sockopts=TCP_NODELAY');
  });
});

describe('the --max-delete backstop', () => {
  it('is passed only when a bound is set', () => {
    const target: Target = { name: 'w', dest: { kind: 'local', path: '/srv/w' }, passwordFile: undefined, timeout: 30, ssh: { port: undefined, identityFile: undefined, knownHostsFile: undefined, strictHostKeyChecking: true } };
    const config = { source: '/src', exclude: [], protect: [], owner: false, rsync: { path: 'rsync', args: [] } };
    const pass = { kind: 'full' } as const;
    expect(rsyncArgs({ config, target, pass, dryRun: false, maxDelete: 5 })).toContain('--max-delete=5');
    expect(rsyncArgs({ config, target, pass, dryRun: false }).some((a) => a.startsWith('--max-delete'))).toBe(false);
  });
});

// stderr as rsync 3.5.0 over OpenSSH 9.2 writes it, from a real sshd (test/integration/ssh.test.ts)
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
