import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../../src/base/config.js';
import type { RsyncPass } from '../../../src/transport/rsync-pass.js';
import { connectionArgs, rsyncArgs, rsyncInput } from '../../../src/transport/rsync-args.js';
import { sshCommand } from '../../../src/transport/ssh.js';
import { target } from '../target.js';

type RsyncConfig = Pick<Config, 'source' | 'exclude' | 'protect' | 'owner' | 'rsync'>;

const baseConfig: RsyncConfig = { source: '/data/www', exclude: [], protect: [], owner: false, rsync: { path: 'rsync', args: [] } };


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

describe('connection options', () => {
  it('daemon connections turn Nagle off (each small exchange would otherwise wait out a delayed ACK)', () => {
    expect(connectionArgs(target('u@h::m', { passwordFile: '/p' }))).toContain('--sockopts=TCP_NODELAY');
    expect(connectionArgs(target('/x'))).not.toContain('--sockopts=TCP_NODELAY');
  });
});

describe('the --max-delete backstop', () => {
  it('is passed only when a bound is set', () => {
    const local = target('/srv/w');
    const config = { source: '/src', exclude: [], protect: [], owner: false, rsync: { path: 'rsync', args: [] } };
    const pass = { kind: 'full' } as const;
    expect(rsyncArgs({ config, target: local, pass, dryRun: false, maxDelete: 5 })).toContain('--max-delete=5');
    expect(rsyncArgs({ config, target: local, pass, dryRun: false }).some((a) => a.startsWith('--max-delete'))).toBe(false);
  });
});

// stderr as rsync 3.5.0 over OpenSSH 9.2 writes it, from a real sshd (test/integration/ssh.test.ts)

describe('--delay-updates: files put in place at the end, where a web server reads them', () => {
  const config = { source: '/src', exclude: [], protect: [], owner: false, rsync: { path: 'rsync', args: [] } };
  const served = target('/srv/www');
  const delays = (pass: RsyncPass): boolean => rsyncArgs({ config, target: served, pass, dryRun: false }).includes('--delay-updates');

  it('on a send and a full pass into a served tree; not on a sweep, whose .~tmp~ leftovers it would keep, nor on a prune, which sends nothing', () => {
    expect(delays({ kind: 'send', paths: ['a'] })).toBe(true);
    expect(delays({ kind: 'full' })).toBe(true);
    expect(delays({ kind: 'full', sweep: false })).toBe(true);
    expect(delays({ kind: 'full', sweep: true })).toBe(false);
    expect(delays({ kind: 'prune', directories: ['a'] })).toBe(false);
  });
});

describe('layout: slots', () => {
  const config = { source: '/src', exclude: [], protect: [], owner: false, rsync: { path: 'rsync', args: [] } };
  const slot = target('/srv/www/slots/2');

  it('a slot nothing serves is written without --delay-updates, its shared paths left alone', () => {
    const args = rsyncArgs({ config, target: slot, pass: { kind: 'send', paths: ['a'] }, dryRun: false, staging: { shared: ['uploads', 'media/cache'], seedFrom: undefined } });
    expect(args).not.toContain('--delay-updates');
    expect(args).toContain('--exclude=/uploads');
    expect(args).toContain('--exclude=/media/cache');
    expect(rsyncArgs({ config, target: slot, pass: { kind: 'send', paths: ['a'] }, dryRun: false })).toContain('--delay-updates');
  });

  it('a full pass into an empty slot copies on the host from the tree named, comparing contents; a send pass from the live slot', () => {
    const full = rsyncArgs({ config, target: slot, pass: { kind: 'full' }, dryRun: false, staging: { shared: [], seedFrom: '../1/' } });
    expect(full).toEqual(expect.arrayContaining(['--copy-dest=../1/', '--checksum']));
    const send = rsyncArgs({ config, target: slot, pass: { kind: 'send', paths: ['a'] }, dryRun: false, staging: { shared: [], seedFrom: '../1/', copyFrom: '../1/' } });
    expect(send.filter((a) => a.startsWith('--copy-dest'))).toEqual(['--copy-dest=../1/']);
    expect(rsyncArgs({ config, target: slot, pass: { kind: 'prune', directories: ['.'] }, dryRun: false, staging: { shared: [], seedFrom: '../1/', copyFrom: '../1/' } }).some((a) => a.startsWith('--copy-dest'))).toBe(false);
  });

  it('a links pass sends symlinks and directories as they are: no perms, times or deletion; dir links kept only when asked', () => {
    const args = rsyncArgs({ config, target: target('/srv/www'), pass: { kind: 'links', from: '/state/links/current-2', names: ['current'] }, dryRun: false });
    expect(args).toEqual(expect.arrayContaining(['--links', '--dirs', '--files-from=-', '--from0']));
    for (const flag of ['--perms', '--times', '--delete', '--keep-dirlinks', '--delay-updates', '--recursive']) expect(args).not.toContain(flag);
    expect(args.slice(-3)).toEqual(['--', '/state/links/current-2/', '/srv/www/']);
    expect(rsyncArgs({ config, target: target('/srv/www'), pass: { kind: 'links', from: '/s', names: ['shared/uploads'], keepDirLinks: true }, dryRun: false })).toContain('--keep-dirlinks');
    expect(rsyncInput({ kind: 'links', from: '/s', names: ['current'] })?.toString('latin1')).toBe('./current\0');
  });

  it('an armed switch asks rsync to say when it waits for its list, after any --info of the operator', () => {
    const quiet = { ...baseConfig, rsync: { path: 'rsync', args: ['--info=flist0'] } };
    const pass = { kind: 'links', from: '/s', names: ['current'] } as const;
    const args = rsyncArgs({ config: quiet, target: target('/srv/www'), pass, dryRun: false, announceWaiting: true });
    expect(args.indexOf('--info=flist1')).toBeGreaterThan(args.indexOf('--info=flist0'));
    expect(args.indexOf('--info=flist1')).toBeLessThan(args.indexOf('--'));
    expect(rsyncArgs({ config: quiet, target: target('/srv/www'), pass, dryRun: false })).not.toContain('--info=flist1');
  });
});
