import { describe, expect, it } from 'vitest';
import { buildEnvironment, commandFailure } from '../../../src/build/build-command.js';

describe('the build command\'s environment', () => {
  it('the inherited basics and build.env; never the ssh agent or anything else of the caller', () => {
    const env = buildEnvironment({ env: { NODE_ENV: 'production' } }, { PATH: '/usr/bin', HOME: '/home/git', SSH_AUTH_SOCK: '/tmp/agent', LD_PRELOAD: '/x.so', NPM_TOKEN: 'secret' });
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/home/git', NODE_ENV: 'production' });
  });
});

describe('why a build command failed', () => {
  const build = { timeoutMs: 90_000 };
  const ok = { spawnError: undefined, timedOut: false, exitCode: 0 };

  it('nothing when it exited 0 in time', () => {
    expect(commandFailure(build, ok)).toBeUndefined();
  });

  it('a command that could not start, one that ran out of time, one that exited non-zero', () => {
    expect(commandFailure(build, { ...ok, spawnError: 'make: not found', exitCode: 128 })).toBe('make: not found');
    expect(commandFailure(build, { ...ok, timedOut: true, exitCode: 124 })).toBe('it did not finish within 90s (build.timeout)');
    expect(commandFailure(build, { ...ok, exitCode: 2 })).toBe('exit 2');
  });
});
