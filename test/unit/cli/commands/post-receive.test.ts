import { describe, expect, it } from 'vitest';
import { parsePushedRefs, pushRequest } from '../../../../src/cli/commands/post-receive.js';

const OLD = 'a'.repeat(40);
const NEW = 'b'.repeat(40);
const ZERO = '0'.repeat(40);

describe('parsePushedRefs', () => {
  it('reads one "<old> <new> <ref>" line', () => {
    expect(parsePushedRefs(`${OLD} ${NEW} refs/heads/main\n`)).toEqual([{ oldCommit: OLD, newCommit: NEW, ref: 'refs/heads/main' }]);
  });

  it('reads several lines in order', () => {
    const stdin = [`${OLD} ${NEW} refs/heads/main`, `${ZERO} ${NEW} refs/tags/v1.0`, `${NEW} ${ZERO} refs/heads/feature/x`].join('\n');
    expect(parsePushedRefs(stdin)).toEqual([
      { oldCommit: OLD, newCommit: NEW, ref: 'refs/heads/main' },
      { oldCommit: ZERO, newCommit: NEW, ref: 'refs/tags/v1.0' },
      { oldCommit: NEW, newCommit: ZERO, ref: 'refs/heads/feature/x' },
    ]);
  });

  it('works without a trailing newline and with one', () => {
    const line = `${OLD} ${NEW} refs/heads/main`;
    expect(parsePushedRefs(line)).toHaveLength(1);
    expect(parsePushedRefs(`${line}\n`)).toHaveLength(1);
    expect(parsePushedRefs(`${line}\n\n`)).toHaveLength(1);
  });

  it('skips blank lines and surrounding white space', () => {
    const stdin = `\n  \n${OLD} ${NEW} refs/heads/main\r\n\n\t${NEW}  ${OLD}\trefs/heads/dev  \n\n`;
    expect(parsePushedRefs(stdin)).toEqual([
      { oldCommit: OLD, newCommit: NEW, ref: 'refs/heads/main' },
      { oldCommit: NEW, newCommit: OLD, ref: 'refs/heads/dev' },
    ]);
  });

  it('skips a line with fewer than three fields', () => {
    expect(parsePushedRefs(`${OLD} ${NEW}\n${OLD} ${NEW} refs/heads/main\n`)).toEqual([{ oldCommit: OLD, newCommit: NEW, ref: 'refs/heads/main' }]);
  });

  it('reads empty stdin as no refs', () => {
    expect(parsePushedRefs('')).toEqual([]);
    expect(parsePushedRefs('\n')).toEqual([]);
  });
});

describe('pushRequest: who pushed, and why', () => {
  it("names the ssh key's person beside the account, and carries the message", () => {
    const { request, notes, refused } = pushRequest({ FANOUT_USER: 'alice', GIT_PUSH_OPTION_COUNT: '1', GIT_PUSH_OPTION_0: 'message=fix the footer' }, 'git');
    expect(request).toEqual({ revision: { kind: 'tip' }, reason: 'push', startedBy: 'git push by alice (git)', user: 'alice', message: 'fix the footer' });
    expect(notes).toEqual([]);
    expect(refused).toBe(false);
  });

  it('without a name: the account; no message: none', () => {
    const { request } = pushRequest({}, 'git');
    expect(request.startedBy).toBe('git push by git');
    expect(request.user).toBe('git');
    expect('message' in request).toBe(false);
  });

  it('a bad name is refused with a note, the account recorded; an unknown option is named', () => {
    const { request, notes, refused } = pushRequest({ FANOUT_USER: 'alice\nFANOUT_USER=root', GIT_PUSH_OPTION_COUNT: '1', GIT_PUSH_OPTION_0: 'ci.skip' }, 'git');
    expect(request.startedBy).toBe('git push by git');
    expect(refused).toBe(true);
    expect(notes).toEqual([expect.stringMatching(/^warning: FANOUT_USER is not a name fanout records/), 'ignoring push option "ci.skip": fanout takes only message=TEXT (git push -o message="why")']);
  });
});
