import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { whoAmI } from '../../../src/deploy/deploy.js';
import { SYSTEM_CONFIG, configPath } from '../../../src/cli/session.js';

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
});
