import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/base/config.js';

// zones and their relays as the config's parser reads them (docs/guides/many-hosts.md).

const FILE = '/etc/fanout/fanout.yaml';
const BASE = `repo: /srv/git/site.git
source: /data/www
concurrency: 6
`;

const zoned = (zones: string, targets = `[{ name: web1, dest: "w@10.0.1.11::site", passwordFile: /etc/w1.pwd, zone: rack-a }, { name: web2, dest: "deploy@10.0.1.12:/srv/www", zone: rack-a }]`): string =>
  `${BASE}targets: ${targets}\nzones:\n${zones}`;

describe('zones', () => {
  it('reads each zone, its relays parsed as ssh destinations with their own ssh options, in the config\'s order', () => {
    const config = parseConfig(zoned('  rack-a:\n    relays: [{ dest: "deploy@10.0.1.11:/var/cache/fanout/site/", ssh: { port: 2222, identityFile: keys/relay } }]\n    concurrency: 20\n  rack-b: {}\n'), FILE);
    expect(config.zones.map((z) => [z.name, z.relays.length, z.concurrency])).toEqual([
      ['rack-a', 1, 20],
      ['rack-b', 0, 6],
    ]);
    expect(config.zones[0]?.relays[0]).toMatchObject({
      name: 'deploy@10.0.1.11:/var/cache/fanout/site/',
      zone: 'rack-a',
      dest: { kind: 'ssh', user: 'deploy', host: '10.0.1.11', path: '/var/cache/fanout/site' },
      ssh: { port: 2222, identityFile: '/etc/fanout/keys/relay', strictHostKeyChecking: true },
      timeout: 30,
    });
    expect(config.targets.map((t) => t.zone)).toEqual(['rack-a', 'rack-a']);
  });

  it('without zones, none; a target names no zone', () => {
    const config = parseConfig(`${BASE}targets: [{ name: web1, dest: /srv/a }]\n`, FILE);
    expect(config.zones).toEqual([]);
    expect(config.targets[0]?.zone).toBeUndefined();
  });

  it('refuses a zone no one configured, naming the field and the zones there are', () => {
    expect(() => parseConfig(zoned('  rack-b: {}\n'), FILE)).toThrow(`config ${FILE}: targets[0].zone: no zone named "rack-a"; zones: rack-b`);
  });

  it('refuses a relay that is not an ssh destination with an absolute directory, or is / itself', () => {
    expect(() => parseConfig(zoned('  rack-a: { relays: [{ dest: "r::site" }] }\n'), FILE)).toThrow('zones.rack-a.relays[0].dest: a relay is reached over ssh');
    expect(() => parseConfig(zoned('  rack-a: { relays: [{ dest: "r:cache" }] }\n'), FILE)).toThrow('zones.rack-a.relays[0].dest: the directory on the relay must be absolute');
    expect(() => parseConfig(zoned('  rack-a: { relays: [{ dest: "r:/" }] }\n'), FILE)).toThrow('zones.rack-a.relays[0].dest: not / itself');
    expect(() => parseConfig(zoned('  rack-a: { relays: [{ dest: "r:/c", sssh: {} }] }\n'), FILE)).toThrow('zones.rack-a.relays[0]: unknown field "sssh" (did you mean "ssh"?)');
  });

  it('refuses a local directory in a zone with relays: a relay cannot reach the update server\'s disk', () => {
    const targets = `[{ name: web1, dest: /srv/mirror, zone: rack-a }]`;
    expect(() => parseConfig(zoned('  rack-a: { relays: [{ dest: "r:/c" }] }\n', targets), FILE)).toThrow('targets[0].zone: web1 is a directory on the update server');
    expect(parseConfig(zoned('  rack-a: {}\n', targets), FILE).targets[0]?.zone).toBe('rack-a');
  });

  it('refuses two zones whose relays would write one release directory', () => {
    expect(() => parseConfig(zoned('  rack-a: { relays: [{ dest: "r:/c" }] }\n  rack-b: { relays: [{ dest: "other@r:/c/" }] }\n'), FILE)).toThrow('zones.rack-b.relays: other@r:/c/ is also a relay of zone rack-a');
  });
});
