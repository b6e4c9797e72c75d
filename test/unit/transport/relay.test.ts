import { describe, expect, it } from 'vitest';
import type { Relay } from '../../../src/base/config.js';
import { relayPlaces, secretsArgs, targetFromRelay, type RelayHop } from '../../../src/transport/relay.js';
import { silentLogger as log } from '../../../src/base/log.js';
import { relayWatch } from '../../../src/transport/relay-watch.js';
import { target } from '../target.js';

const relay: Relay = {
  name: 'deploy@10.0.1.11:/var/cache/fanout/site',
  zone: 'rack-a',
  dest: { kind: 'ssh', user: 'deploy', host: '10.0.1.11', path: '/var/cache/fanout/site' },
  ssh: { port: 2222, identityFile: '/etc/fanout/relay key', knownHostsFile: undefined, strictHostKeyChecking: true, controlPath: '/srv/state/ssh/abc' },
  timeout: 30,
};
const hop: RelayHop = { relay: relay.name, ssh: ['ssh', 'deploy@10.0.1.11'], ...relayPlaces(relay), watch: relayWatch(['ssh', 'deploy@10.0.1.11'], log) };

describe('a relay', () => {
  it('keeps the release and its zone\'s passwords side by side in its directory', () => {
    expect(relayPlaces(relay)).toEqual({ release: '/var/cache/fanout/site/release', secrets: '/var/cache/fanout/site/secrets' });
  });

  it('reaches a daemon target with its copy of the password, an ssh target with its own keys', () => {
    const daemon = targetFromRelay(target('w@web1::site', { name: 'web1', passwordFile: '/etc/fanout/web1.pwd' }), hop);
    expect(daemon.passwordFile).toBe('/var/cache/fanout/site/secrets/web1');
    const ssh = targetFromRelay(target('deploy@web2:/srv/www', { name: 'web2', ssh: { port: 22, identityFile: '/etc/fanout/key', knownHostsFile: '/etc/fanout/known', strictHostKeyChecking: true } }), hop);
    expect(ssh.ssh).toEqual({ port: 22, identityFile: undefined, knownHostsFile: undefined, strictHostKeyChecking: true, controlPath: undefined });
  });

  it('gets its secrets as files only its user reads, over the held connection, and nothing else left beside them', () => {
    const args = secretsArgs('/srv/state/links/secrets-1-rack-a', { relay, hop, ssh: relay.ssh });
    expect(args).toEqual(expect.arrayContaining(['--copy-links', '--chmod=D700,F600', '--delete']));
    expect(args.slice(-2)).toEqual(['/srv/state/links/secrets-1-rack-a/', 'deploy@10.0.1.11:/var/cache/fanout/site/secrets/']);
    const rsh = args[args.indexOf('--rsh') + 1] ?? '';
    expect(rsh).toContain('ControlPath=/srv/state/ssh/abc');
    expect(rsh).toContain('ControlMaster=no');
    expect(rsh).toContain(`'IdentityFile="/etc/fanout/relay key"'`);
  });
});
