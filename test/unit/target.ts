import type { Target } from '../../src/base/config.js';
import { parseDest } from '../../src/base/dest.js';

/** A target as loadConfig makes it, for the unit tests of what is built from one. */
export function target(dest: string, overrides: Partial<Target> = {}): Target {
  return {
    name: 'web1',
    dest: parseDest(dest),
    passwordFile: undefined,
    timeout: 30,
    ssh: { port: undefined, identityFile: undefined, knownHostsFile: undefined, strictHostKeyChecking: true },
    layout: { kind: 'in-place' },
    checkUrl: undefined,
    zone: undefined,
    ...overrides,
  };
}
