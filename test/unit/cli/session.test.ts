import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { whoAmI } from '../../../src/deploy/deploy.js';
import { SYSTEM_CONFIG, configPath, configSearch } from '../../../src/cli/session.js';

describe('configPath: --config, else $FANOUT_CONFIG, else ./fanout.yaml, else the system config', () => {
  const none = (): boolean => false;
  const only = (file: string) => (f: string): boolean => f === file;

  it('takes --config first, then the environment', () => {
    expect(configPath('/a/fanout.yaml', { FANOUT_CONFIG: '/b.yaml' }, none)).toBe('/a/fanout.yaml');
    expect(configPath(undefined, { FANOUT_CONFIG: '/b.yaml' }, none)).toBe('/b.yaml');
  });

  it('takes ./fanout.yaml when it exists, else /etc/fanout/fanout.yaml (sudo drops FANOUT_CONFIG)', () => {
    const local = path.resolve('fanout.yaml');
    expect(configPath(undefined, {}, only(local))).toBe(local);
    expect(configPath(undefined, {}, only(SYSTEM_CONFIG))).toBe(SYSTEM_CONFIG);
    // neither: the local name, so that the error names where it looked first
    expect(configPath(undefined, { FANOUT_CONFIG: '' }, none)).toBe(local);
  });
});

describe('whoAmI: who started a deploy', () => {
  it('names the person behind sudo, and the account it ran as', () => {
    const me = whoAmI({});
    expect(whoAmI({ SUDO_USER: 'alice' })).toBe(me === 'alice' ? 'alice' : `alice (sudo as ${me})`);
    expect(whoAmI({ SUDO_USER: '' })).toBe(me);
  });

  it("names the ssh key's person first, beside the account; a name it cannot record is not taken", () => {
    const me = whoAmI({});
    expect(whoAmI({ FANOUT_USER: 'alice', SUDO_USER: 'bob' })).toBe(me === 'alice' ? 'alice' : `alice (${me})`);
    expect(whoAmI({ FANOUT_USER: 'not a name' })).toBe(me);
  });
});

describe('configSearch: how the config was chosen, for the lines that say where fanout looked', () => {
  const none = (): boolean => false;

  it('records what named it, the places looked at in order, and the words typed', () => {
    expect(configSearch('/a.yaml', {}, none, ['status'])).toEqual({ file: '/a.yaml', by: '--config', looked: [], args: ['status'] });
    expect(configSearch(undefined, { FANOUT_CONFIG: '/b.yaml' }, none, [])).toMatchObject({ file: '/b.yaml', by: '$FANOUT_CONFIG' });
    const local = path.resolve('fanout.yaml');
    expect(configSearch(undefined, {}, none, ['sync'])).toEqual({ file: local, by: 'search', looked: [local, SYSTEM_CONFIG], args: ['sync'] });
    expect(configSearch(undefined, {}, (f) => f === SYSTEM_CONFIG, []).file).toBe(SYSTEM_CONFIG);
  });
});
