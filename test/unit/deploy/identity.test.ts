import { describe, expect, it } from 'vitest';
import { MESSAGE_MAX, describeIdentity, identify, oneLine, pushOptions, whoOf } from '../../../src/deploy/identity.js';

describe('identify: the person behind a deploy', () => {
  it("takes the ssh key's name first, then sudo's, then the account", () => {
    expect(identify({ FANOUT_USER: 'alice', SUDO_USER: 'bob' }, 'git')).toEqual({ user: 'alice', via: 'ssh key', account: 'git', notes: [] });
    expect(identify({ SUDO_USER: 'bob' }, 'git')).toEqual({ user: 'bob', via: 'sudo', account: 'git', notes: [] });
    expect(identify({}, 'git')).toEqual({ user: 'git', via: 'account', account: 'git', notes: [] });
    // empty is unset; sudo to oneself says nothing more than the account
    expect(identify({ FANOUT_USER: '', SUDO_USER: '' }, 'git').via).toBe('account');
    expect(identify({ SUDO_USER: 'git' }, 'git').via).toBe('account');
  });

  it('takes plain names: letters, digits, . _ - @ +, up to 64', () => {
    for (const name of ['alice', 'a', 'Alice.Smith', 'j_doe-2', 'alice@example.org', 'ci+deploy', '7of9', 'x'.repeat(64)]) expect(identify({ FANOUT_USER: name }, 'git').user).toBe(name);
  });

  it('refuses anything else, says why once without echoing it, and falls back to sudo or the account', () => {
    const bad = ['x'.repeat(65), '-rf', '.hidden', 'al ice', 'alice\nbob', 'alice"}', 'a\u001b[31m', 'ünï', 'a/b', 'a=b', 'a;rm', 'a\u0000b', '$(id)'];
    for (const name of bad) {
      const who = identify({ FANOUT_USER: name }, 'git');
      expect(who.user, JSON.stringify(name)).toBe('git');
      expect(who.via).toBe('account');
      expect(who.notes).toHaveLength(1);
      expect(who.notes[0]).toMatch(/^FANOUT_USER is not a name fanout records \(1 to 64 letters/);
      expect(who.notes[0]).not.toContain(name);
    }
    expect(identify({ FANOUT_USER: 'a b', SUDO_USER: 'bob' }, 'git')).toMatchObject({ user: 'bob', via: 'sudo' });
    expect(identify({ SUDO_USER: 'b\nob' }, 'root')).toMatchObject({ user: 'root', via: 'account', notes: [expect.stringMatching(/^SUDO_USER is not a name/)] });
  });

  it('in words: the person, with the account beside it when it differs', () => {
    expect(describeIdentity(identify({ FANOUT_USER: 'alice' }, 'git'))).toBe('alice (git)');
    expect(describeIdentity(identify({ FANOUT_USER: 'git' }, 'git'))).toBe('git');
    expect(describeIdentity(identify({ SUDO_USER: 'bob' }, 'root'))).toBe('bob (sudo as root)');
    expect(describeIdentity(identify({}, 'git'))).toBe('git');
  });
});

describe('pushOptions: what git push -o told the hook', () => {
  const options = (...given: string[]): NodeJS.ProcessEnv => Object.fromEntries([['GIT_PUSH_OPTION_COUNT', String(given.length)], ...given.map((o, i) => [`GIT_PUSH_OPTION_${i}`, o])]) as NodeJS.ProcessEnv;

  it('none: no message', () => {
    expect(pushOptions({})).toEqual({ ignored: [] });
    expect(pushOptions({ GIT_PUSH_OPTION_COUNT: '0' })).toEqual({ ignored: [] });
    expect(pushOptions({ GIT_PUSH_OPTION_COUNT: 'lots' })).toEqual({ ignored: [] });
  });

  it('message=TEXT is the message; the last one wins; an empty one is none', () => {
    expect(pushOptions(options('message=fix the footer'))).toEqual({ message: 'fix the footer', ignored: [] });
    expect(pushOptions(options('message=first', 'message=second = final'))).toEqual({ message: 'second = final', ignored: [] });
    expect(pushOptions(options('message=   '))).toEqual({ ignored: [] });
  });

  it('names the options it does not know, cleaned', () => {
    expect(pushOptions(options('ci.skip', 'message=why', 'evil\u001b[2J\nline'))).toEqual({ message: 'why', ignored: ['ci.skip', 'evil [2J line'] });
  });

  it('reads at most 32 options, whatever the count says', () => {
    const env = { ...options(...Array.from({ length: 40 }, (_, i) => `x${i}`)), GIT_PUSH_OPTION_COUNT: '1000000' };
    expect(pushOptions(env).ignored).toHaveLength(32);
  });

  it('keeps a message one bounded line', () => {
    expect(pushOptions(options('message=  two\r\nlines\tand\u0007 a bell ')).message).toBe('two lines and a bell');
    expect(pushOptions(options('message=bidi \u202eevil\u2066 and \u2028separator')).message).toBe('bidi evil and separator');
    const long = pushOptions(options(`message=${'word '.repeat(100)}`)).message ?? '';
    expect(Array.from(long)).toHaveLength(MESSAGE_MAX);
    expect(long.endsWith('…')).toBe(true);
    expect(long).not.toMatch(/\s…$/);
  });
});

describe('oneLine', () => {
  it('cuts between the characters a person sees, never inside one', () => {
    const family = '\u{1f468}\u200d\u{1f469}\u200d\u{1f467}';
    expect(oneLine(`ab${family}cd`, 4)).toBe(`ab${family}…`);
    expect(oneLine('short', 10)).toBe('short');
  });
});

describe('whoOf', () => {
  it('carries the person and the message, and leaves absent ones absent', () => {
    expect(whoOf({ user: 'alice', message: 'why' })).toEqual({ user: 'alice', message: 'why' });
    expect(whoOf({})).toEqual({});
    expect(Object.keys(whoOf({ user: 'a' }))).toEqual(['user']);
  });
});
