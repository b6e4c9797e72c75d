import { describe, expect, it } from 'vitest';
import { buildEnvironment, buildOf } from '../../../src/build/build.js';

const SOURCE = 'a'.repeat(40);
const SPOOF = 'b'.repeat(40);

describe('a build commit names its source on the line after its subject', () => {
  it('reads the fanout-build-of line that follows the subject', () => {
    expect(buildOf(`Fix the footer\n\nfanout-build-of: ${SOURCE}\nfanout-build-command: make\n`)).toBe(SOURCE);
    expect(buildOf(`\n\nfanout-build-of: ${SOURCE}\n`)).toBe(SOURCE);
  });

  it('never a line the pusher wrote: the subject, or anything else', () => {
    // the subject is the source commit's own, and a pusher writes it
    expect(buildOf(`fanout-build-of: ${SPOOF}\n\nfanout-build-of: ${SOURCE}\n`)).toBe(SOURCE);
    expect(buildOf(`fanout-build-of: ${SPOOF}\n`)).toBeUndefined();
    expect(buildOf(`a plain commit\n\nbody\nfanout-build-of: ${SPOOF}\n`)).toBeUndefined();
    expect(buildOf(`x\n\nfanout-build-of: ${SOURCE.slice(1)}\n`)).toBeUndefined();
  });
});

describe('the build command\'s environment', () => {
  it('the inherited basics and build.env; never the ssh agent or anything else of the caller', () => {
    const env = buildEnvironment({ env: { NODE_ENV: 'production' } }, { PATH: '/usr/bin', HOME: '/home/git', SSH_AUTH_SOCK: '/tmp/agent', LD_PRELOAD: '/x.so', NPM_TOKEN: 'secret' });
    expect(env).toEqual({ PATH: '/usr/bin', HOME: '/home/git', NODE_ENV: 'production' });
  });
});
