import { describe, expect, it } from 'vitest';
import { missingConfigLine, rerunAs, unreadableConfigLine, unreadablePasswordLine, untrustedConfigLine, type ConfigOrigin } from '../../../src/base/config-access.js';

const searched: ConfigOrigin = { file: '/root/fanout.yaml', by: 'search', looked: ['/root/fanout.yaml', '/etc/fanout/fanout.yaml'], args: ['status'] };
const system: ConfigOrigin = { ...searched, file: '/etc/fanout/fanout.yaml' };

describe('rerunAs: the same command as the owner', () => {
  it('puts sudo -u OWNER before the words typed', () => {
    expect(rerunAs('git', system)).toBe('sudo -u git fanout status');
    expect(rerunAs('git', { ...system, by: '--config', args: ['sync', '--config', '/srv/fanout.yaml', '--target', 'web 1'] })).toBe("sudo -u git fanout sync --config /srv/fanout.yaml --target 'web 1'");
  });

  it('names a config $FANOUT_CONFIG chose with --config, since sudo drops the variable', () => {
    expect(rerunAs('git', { file: '/srv/f.yaml', by: '$FANOUT_CONFIG', looked: [], args: ['status'] })).toBe('sudo -u git fanout status --config /srv/f.yaml');
  });
});

describe('missingConfigLine: every place looked at, in order', () => {
  it('lists --config, $FANOUT_CONFIG, ./fanout.yaml and /etc/fanout/fanout.yaml, and what sudo does', () => {
    const line = missingConfigLine(searched);
    expect(line).toBe(
      'no config found; looked at, in order: --config (not given), $FANOUT_CONFIG (not set), /root/fanout.yaml, /etc/fanout/fanout.yaml; ' +
        'name one with --config FILE (sudo drops FANOUT_CONFIG: pass --config, or sudo --preserve-env=FANOUT_CONFIG), or create one with "fanout init"',
    );
  });

  it('names what named a file that is not there', () => {
    expect(missingConfigLine({ file: '/a.yaml', by: '--config', looked: [], args: [] })).toBe('config /a.yaml (named by --config) does not exist: create one with "fanout init --config /a.yaml", or name the right one with --config FILE');
    expect(missingConfigLine({ file: '/b.yaml', by: '$FANOUT_CONFIG', looked: [], args: [] })).toMatch(/^config \/b\.yaml \(named by \$FANOUT_CONFIG\) does not exist: create one with "fanout init"/);
  });
});

describe('unreadableConfigLine: exists, whose it is, and what to run', () => {
  it('a file of another account: run fanout as it', () => {
    expect(unreadableConfigLine(system, 'alice', { path: system.file, owner: 'git', mode: 0o600, isDir: false })).toBe(
      'config /etc/fanout/fanout.yaml exists, but alice cannot read it (it belongs to git, mode 600); run fanout as its owner: sudo -u git fanout status',
    );
  });

  it('a directory in the way', () => {
    expect(unreadableConfigLine(system, 'alice', { path: '/etc/fanout', owner: 'git', mode: 0o700, isDir: true })).toBe(
      'config /etc/fanout/fanout.yaml cannot be reached: alice may not enter /etc/fanout (it belongs to git, mode 700); run fanout as its owner: sudo -u git fanout status',
    );
  });

  it("root's file: give it to the user; the user's own: chmod", () => {
    expect(unreadableConfigLine(system, 'git', { path: system.file, owner: 'root', mode: 0o600, isDir: false })).toMatch(/; as root: chown git \/etc\/fanout\/fanout\.yaml$/);
    expect(unreadableConfigLine(system, 'git', { path: '/etc/fanout', owner: 'root', mode: 0o700, isDir: true })).toMatch(/; as root: chmod o\+x \/etc\/fanout$/);
    expect(unreadableConfigLine(system, 'git', { path: system.file, owner: 'git', mode: 0o200, isDir: false })).toMatch(/; chmod u\+r \/etc\/fanout\/fanout\.yaml$/);
  });
});

describe('untrustedConfigLine: the trust finding, and the command as the owner', () => {
  it('adds sudo -u OWNER when the file is another account\'s', () => {
    expect(untrustedConfigLine(system, '/etc/fanout/fanout.yaml belongs to git, not to root', 'git')).toBe(
      'config /etc/fanout/fanout.yaml: /etc/fanout/fanout.yaml belongs to git, not to root; refusing to use it (whoever can write it decides what fanout runs); run fanout as its owner instead: sudo -u git fanout status',
    );
  });

  it('adds nothing when the problem is a mode (its own chmod is in the finding)', () => {
    expect(untrustedConfigLine(system, 'x is writable by everyone (mode 666): chmod go-w x', undefined)).toMatch(/decides what fanout runs\)$/);
  });
});

describe('unreadablePasswordLine: the owner, and the chown', () => {
  it("another account's: chown it to the user fanout runs as", () => {
    expect(unreadablePasswordLine('/etc/fanout/www1.pwd', 'git', 'root', 0o600)).toBe('/etc/fanout/www1.pwd belongs to root (mode 600), so git, who runs fanout, cannot read it: as root, chown git /etc/fanout/www1.pwd');
  });

  it("the user's own, without read permission: chmod 600", () => {
    expect(unreadablePasswordLine('/p.pwd', 'git', 'git', 0o200)).toMatch(/: chmod 600 \/p\.pwd$/);
  });
});
