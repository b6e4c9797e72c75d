import { describe, expect, it } from 'vitest';
import { validateConfig, type Fail, type RawConfig } from '../../../src/base/config-schema.js';
import {
  checkEveryTargetChecked,
  checkRollout,
  normalizeBuild,
  normalizeChecks,
  normalizeHooks,
  normalizeMetrics,
  normalizePage,
  normalizePlaces,
  normalizeRollout,
  normalizeTargets,
  type Resolve,
} from '../../../src/base/config-sections.js';

const fail: Fail = (where, why) => {
  throw new Error(`${where}: ${why}`);
};
const abs: Resolve = (p) => (p.startsWith('/') ? p : `/etc/fanout/${p}`);

/** A config as the schema lets it through: plain data, the defaults filled in. */
function raw(fields: Record<string, unknown>): RawConfig {
  return validateConfig({ repo: '/srv/git/site.git', source: '/data/www', targets: [{ name: 'web1', dest: '/srv/a/' }], ...fields }, fail);
}

describe('normalizePlaces', () => {
  it('resolves repo, source and stateDir; stateDir defaults to <repo>/fanout', () => {
    expect(normalizePlaces(raw({ repo: 'site.git', source: 'www' }), abs)).toEqual({ repo: '/etc/fanout/site.git', branch: 'main', source: '/etc/fanout/www', stateDir: '/etc/fanout/site.git/fanout' });
    expect(normalizePlaces(raw({ stateDir: 'state', branch: 'prod' }), abs)).toMatchObject({ branch: 'prod', stateDir: '/etc/fanout/state' });
  });
});

describe('normalizeTargets', () => {
  it('takes what a target leaves unset from the top level: timeout, layout, checks.url', () => {
    const c = raw({
      timeout: 12,
      layout: 'slots',
      slots: 3,
      slotGrace: 1.5,
      shared: ['uploads'],
      checks: { url: 'http://{host}/' },
      targets: [
        { name: 'web1', dest: '/srv/a/' },
        { name: 'web2', dest: 'deploy@h:/srv/b/', timeout: 90, layout: 'in-place', checkUrl: 'http://b/', ssh: { identityFile: 'id', port: 2222 } },
      ],
    });
    const [web1, web2] = normalizeTargets(c, abs, fail);
    expect(web1).toMatchObject({ timeout: 12, layout: { kind: 'slots', count: 3, graceMs: 1500, shared: ['uploads'] }, checkUrl: 'http://{host}/' });
    expect(web2).toMatchObject({ timeout: 90, layout: { kind: 'in-place' }, checkUrl: 'http://b/' });
    expect(web2?.ssh).toEqual({ port: 2222, identityFile: '/etc/fanout/id', knownHostsFile: undefined, strictHostKeyChecking: true });
  });

  it('reports one target\'s problems before the next one\'s: a name already taken before a bad dest', () => {
    const targets = (list: unknown[]): RawConfig => raw({ targets: list });
    expect(() => normalizeTargets(targets([{ name: 'a', dest: 'bad' }, { name: 'a', dest: '/x' }]), abs, fail)).toThrow(/^targets\[0\]\.dest: /);
    expect(() => normalizeTargets(targets([{ name: 'a', dest: '/x' }, { name: 'a', dest: 'bad' }]), abs, fail)).toThrow('targets[1].name: duplicate target name "a"');
    expect(() => normalizeTargets(targets([{ name: 'a', dest: '/x', passwordFile: 'p', checkUrl: 'http://c' }]), abs, fail)).toThrow(/^targets\[0\]\.passwordFile: only rsync daemon targets/);
    expect(() => normalizeTargets(targets([{ name: 'a', dest: '/x', checkUrl: 'http://c' }]), abs, fail)).toThrow(/^targets\[0\]\.checkUrl: set checks:/);
  });
});

describe('the sections with their defaults', () => {
  it('checks and build: none unless configured; seconds become milliseconds', () => {
    expect(normalizeChecks(undefined)).toBeUndefined();
    expect(normalizeChecks(raw({ checks: { command: ['/bin/true'], settle: 0.5 } }).checks)).toEqual({ url: undefined, status: 200, body: undefined, command: ['/bin/true'], timeoutMs: 5000, retries: 2, retryDelayMs: 1000, settleMs: 500 });
    expect(normalizeBuild(undefined)).toBeUndefined();
    expect(normalizeBuild(raw({ build: { command: 'make', output: 'out' } }).build)).toEqual({ command: 'make', output: 'out', env: {}, timeoutMs: 600_000, cache: [], keep: 20 });
  });

  it('hooks, rollout and metrics: always there, filled in', () => {
    expect(normalizeHooks(undefined)).toEqual({ before: undefined, afterSwitch: undefined, after: undefined, onFailure: undefined, timeoutMs: 60_000 });
    expect(normalizeRollout(undefined)).toEqual({ canary: undefined, batch: undefined, pauseMs: 0, onFailure: 'rollback' });
    expect(normalizeMetrics(undefined, '/srv/git/site.git', abs)).toEqual({ textfile: undefined, farm: 'site' });
    expect(normalizeMetrics({ textfile: 'fanout.prom' }, '/srv/git/site.git', abs)).toEqual({ textfile: '/etc/fanout/fanout.prom', farm: 'site' });
    expect(normalizePage(undefined, abs)).toEqual({ dir: undefined });
    expect(normalizePage({ dir: 'page' }, abs)).toEqual({ dir: '/etc/fanout/page' });
  });
});

describe('the rules that span sections', () => {
  it('checks without a command need a URL for every target, the first one without is named', () => {
    const c = raw({ checks: { status: 200 }, targets: [{ name: 'web1', dest: '/a', checkUrl: 'http://a/' }, { name: 'web2', dest: '/b' }] });
    expect(() => { checkEveryTargetChecked(c.checks, normalizeTargets(c, abs, fail), fail); }).toThrow(/^checks: nothing to check web2 with/);
    const command = raw({ checks: { command: ['/bin/true'] } });
    expect(() => { checkEveryTargetChecked(command.checks, normalizeTargets(command, abs, fail), fail); }).not.toThrow();
  });

  it('a rollout names configured targets in its canary, then needs checks', () => {
    const c = raw({ rollout: { canary: ['web9'] } });
    const targets = normalizeTargets(c, abs, fail);
    expect(() => { checkRollout(c.rollout, c.checks, targets, fail); }).toThrow('rollout.canary: no target named "web9"; configured: web1');
    const known = raw({ rollout: { canary: ['web1'] } });
    expect(() => { checkRollout(known.rollout, known.checks, targets, fail); }).toThrow(/^rollout: a rollout is gated by checks/);
    expect(() => { checkRollout(undefined, undefined, targets, fail); }).not.toThrow();
  });
});
