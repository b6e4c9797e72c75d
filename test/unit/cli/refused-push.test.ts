import { describe, expect, it } from 'vitest';
import { refusalPlace, refusedCommit } from '../../../src/cli/refused-push.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const ZERO = '0'.repeat(40);

describe('where a push refused for its config is recorded, without a config', () => {
  it("the stateDir the config's text names, relative to the config; else its repo's fanout/", () => {
    expect(refusalPlace('repo: /srv/git/site.git\nstateDir: state\nbranch: live\ntargets: 3\n', '/etc/fanout/fanout.yaml', '/srv/git/site.git')).toEqual({ stateDir: '/etc/fanout/state', branch: 'live' });
    expect(refusalPlace('repo: ../git/site.git\ntargets: [{name: web1}]\n', '/srv/conf/fanout.yaml', '/elsewhere')).toEqual({ stateDir: '/srv/git/site.git/fanout', branch: undefined });
  });

  it('with stages, the state directory of the stage whose branch the push moved', () => {
    const text = 'repo: /srv/git/site.git\nstages:\n  staging: { branch: staging }\n  production: { branch: main, stateDir: /srv/state/prod }\n  promoted: {}\n';
    const pushed = (branch: string) => [{ oldCommit: A, newCommit: B, ref: `refs/heads/${branch}` }];
    expect(refusalPlace(text, '/etc/fanout/fanout.yaml', '/srv/git/site.git', pushed('staging'))).toEqual({ stateDir: '/srv/git/site.git/fanout/staging', branch: 'staging' });
    expect(refusalPlace(text, '/etc/fanout/fanout.yaml', '/srv/git/site.git', pushed('main'))).toEqual({ stateDir: '/srv/state/prod', branch: 'main' });
    // no stage's branch: the repository's fanout/, as without stages
    expect(refusalPlace(text, '/etc/fanout/fanout.yaml', '/srv/git/site.git', pushed('other'))).toEqual({ stateDir: '/srv/git/site.git/fanout', branch: undefined });
  });

  it("the repository the hook runs in, its default fanout/, when the text is no help: unreadable or not fanout's own, not YAML, not a mapping", () => {
    const fallback = { stateDir: '/srv/git/site.git/fanout', branch: undefined };
    expect(refusalPlace(undefined, '/etc/fanout/fanout.yaml', '/srv/git/site.git')).toEqual(fallback);
    expect(refusalPlace('repo: [unclosed\n', '/etc/fanout/fanout.yaml', '/srv/git/site.git')).toEqual(fallback);
    expect(refusalPlace('- a list\n', '/etc/fanout/fanout.yaml', '/srv/git/site.git')).toEqual(fallback);
    expect(refusalPlace('stateDir: 3\nbranch: ""\n', '/etc/fanout/fanout.yaml', '/srv/git/site.git')).toEqual(fallback);
  });
});

describe('the commit a refused push asked for', () => {
  const refs = [
    { oldCommit: A, newCommit: B, ref: 'refs/tags/v1' },
    { oldCommit: A, newCommit: ZERO, ref: 'refs/heads/old' },
    { oldCommit: ZERO, newCommit: A, ref: 'refs/heads/topic' },
    { oldCommit: A, newCommit: B, ref: 'refs/heads/main' },
  ];

  it("the configured branch's new tip; with the branch unknown, the first branch pushed that is not deleted", () => {
    expect(refusedCommit(refs, 'main')).toBe(B);
    expect(refusedCommit(refs, undefined)).toBe(A);
  });

  it('none for a deletion, a tag alone, or a branch not pushed', () => {
    expect(refusedCommit(refs, 'old')).toBeUndefined();
    expect(refusedCommit(refs.slice(0, 1), undefined)).toBeUndefined();
    expect(refusedCommit(refs, 'live')).toBeUndefined();
  });
});
