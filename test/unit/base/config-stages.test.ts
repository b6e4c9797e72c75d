import { describe, expect, it } from 'vitest';
import { parseConfig, parseStages } from '../../../src/base/config.js';

// stages as the config's own parser reads them: each stage a whole config of its own.

const FILE = '/etc/fanout/fanout.yaml';
const BASE = `repo: /srv/git/site.git
source: /data/www
metrics: { textfile: /var/lib/node-exporter/fanout.prom }
checks: { command: [/usr/local/bin/check] }
`;
const STAGES = `${BASE}stages:
  staging:
    branch: staging
    targets: [{ name: web1, dest: "/srv/staging" }]
  production:
    targets: [{ name: web2, dest: "/srv/prod2" }, { name: web3, dest: "/srv/prod3" }]
    checks: { command: [/usr/local/bin/check-prod] }
`;

describe('a config with stages', () => {
  it('reads each stage as the top level with its own fields over it, and its own places', () => {
    const [staging, production] = parseStages(STAGES, FILE);
    expect(staging).toMatchObject({ stage: 'staging', branch: 'staging', source: '/data/www/staging', stateDir: '/srv/git/site.git/fanout/staging', checks: { command: ['/usr/local/bin/check'] } });
    expect(staging?.metrics.textfile).toBe('/var/lib/node-exporter/fanout-staging.prom');
    expect(staging?.targets.map((t) => t.name)).toEqual(['web1']);
    expect(production).toMatchObject({ stage: 'production', branch: undefined, source: '/data/www/production', checks: { command: ['/usr/local/bin/check-prod'] } });
    expect(production?.otherStages.map((c) => c.stage)).toEqual(['staging']);
  });

  it('picks the stage asked for; with several, one must be named', () => {
    expect(parseConfig(STAGES, FILE, 'production').targets.map((t) => t.name)).toEqual(['web2', 'web3']);
    expect(() => parseConfig(STAGES, FILE)).toThrow(`config ${FILE}: has stages staging, production: name one with --stage NAME`);
    expect(() => parseConfig(STAGES, FILE, 'qa')).toThrow('has no stage "qa"; its stages: staging, production');
  });

  it('a config without stages is as it was: branch main, and --stage names nothing', () => {
    const single = parseConfig(`${BASE}targets: [{ name: web1, dest: "/srv/a" }]\n`, FILE);
    expect(single).toMatchObject({ stage: undefined, branch: 'main', source: '/data/www', stateDir: '/srv/git/site.git/fanout', otherStages: [] });
    expect(() => parseConfig(`${BASE}targets: []\n`, FILE, 'staging')).toThrow('has no stages, so --stage staging names nothing');
  });

  it('names the field a problem is in: the stage its own, the top level what the stage inherits', () => {
    expect(() => parseConfig(STAGES.replace('dest: "/srv/staging"', 'dest: ""'), FILE, 'staging')).toThrow(`config ${FILE}: stages.staging.targets[0].dest: must not be empty`);
    expect(() => parseConfig(`${STAGES}concurrency: 0\n`, FILE, 'staging')).toThrow(/^config \S+: concurrency: must be at least 1 \(in stage staging\)$/);
    // a mistake in another stage is reported all the same
    expect(() => parseConfig(STAGES.replace('/srv/prod3', ''), FILE, 'staging')).toThrow(/stages\.production\.targets\[1\]\.dest/);
  });

  it('refuses one place under two spellings, or one inside the other: a --delete of one would wipe the other', () => {
    const two = (a: string, b: string): string => `repo: /srv/git/site.git\nsource: /data/www\nstages:\n  a: { branch: a, targets: [{ name: w1, dest: "${a}" }] }\n  b: { branch: b, targets: [{ name: w2, dest: "${b}" }] }\n`;
    for (const [a, b] of [
      ['/srv/www', '/srv/www/'],
      ['/srv/www', '/srv/www/staging'],
      ['web1:/srv/www', 'deploy@WEB1:/srv/www/'],
      ['web1::site', 'rsync://web1:873/site/'],
      ['/data/www/b/x', '/tmp/elsewhere'],
    ] as const) {
      expect(() => parseStages(two(a, b), FILE), `${a} ~ ${b}`).toThrow(/stages\.\w\.(targets\[0\]\.dest|source): .* (is|overlaps) stage \w's/);
    }
    expect(parseStages(two('web1:/srv/www', 'web2:/srv/www'), FILE)).toHaveLength(2);
    expect(parseStages(two('web1::site', 'rsync://web1:8873/site'), FILE)).toHaveLength(2);
    // a state directory inside another stage's
    expect(() => parseStages(STAGES.replace('    branch: staging\n', '    branch: staging\n    stateDir: /srv/state\n').replace('    targets: [{ name: web2', '    stateDir: /srv/state/prod\n    targets: [{ name: web2'), FILE)).toThrow(/stages\.production\.stateDir: "\/srv\/state\/prod" overlaps stage staging's stateDir/);
  });

  it("merges a stage's metrics over the top level's: its own farm label keeps the top level's textfile, named for the stage", () => {
    const [staging] = parseStages(STAGES.replace('    branch: staging\n', '    branch: staging\n    metrics: { farm: shop-staging }\n'), FILE);
    expect(staging?.metrics).toEqual({ farm: 'shop-staging', textfile: '/var/lib/node-exporter/fanout-staging.prom' });
    expect(() => parseStages(STAGES.replace('    branch: staging\n', '    branch: staging\n    metrics: { textfile: /m/x.prom }\n').replace('    checks: { command: [/usr/local/bin/check-prod] }\n', '    metrics: { textfile: /m/x.prom }\n'), FILE)).toThrow('stages.production.metrics.textfile: "/m/x.prom" is stage staging\'s too');
  });

  it('refuses what two stages may not share, and what only the top level may say', () => {
    expect(() => parseConfig(STAGES.replace('/srv/prod2', '/srv/staging'), FILE, 'staging')).toThrow('stages.production.targets[0].dest: "/srv/staging" is stage staging\'s targets[0].dest ("/srv/staging"): a stage\'s deploys would write into the other\'s; each stage needs places of its own');
    expect(() => parseConfig(STAGES.replace('    targets: [{ name: web2', '    branch: staging\n    targets: [{ name: web2'), FILE, 'staging')).toThrow('stages.production.branch: "staging" is stage staging\'s too');
    expect(() => parseConfig(STAGES.replace('    branch: staging\n', '    branch: staging\n    repo: /elsewhere.git\n'), FILE, 'staging')).toThrow("stages.staging.repo: is the update server's, set once at the top for every stage");
    expect(() => parseConfig(`branch: main\n${STAGES}`, FILE, 'staging')).toThrow(/^config \S+: branch: with stages, each stage names its own branch/);
    expect(() => parseConfig(STAGES.replace('  staging:', '  "bad name":'), FILE)).toThrow(/stages\.bad name: a stage name is 1 to 32 letters/);
  });
});
