import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/base/config.js';
import type { Commit } from '../../../src/base/git.js';
import type { HistoryEntry, State, TargetOutcome } from '../../../src/engine/journal.js';
import { renderFarmPage } from '../../../src/observe/farm-page.js';
import { configSecrets, PAGE_DEPLOYS, stageView, withoutSecrets, type StageView } from '../../../src/observe/farm-view.js';
import { escapeHtml } from '../../../src/observe/html.js';
import { farmStatus } from '../../../src/observe/status.js';
import type { StatusFacts } from '../../../src/observe/status-facts.js';

// The farm page from plain data: what status and history hold, built into the view, rendered.
// Names, subjects, messages and errors are a stranger's bytes; the config's secrets never show.

const A = 'a'.repeat(40) as Commit;
const B = 'b'.repeat(40) as Commit;
const NASTY = `<script>alert(1)</script> "quoted" & 'single'\nsecond line`;

function outcome(name: string, status: 'ok' | 'failed', more: Partial<TargetOutcome> = {}): TargetOutcome {
  return { name, status, mode: 'paths', from: A, sent: 3, deleted: 1, bytes: 2048, durationMs: 250, attempts: 1, ...more };
}

function entry(id: number, targets: TargetOutcome[], more: Partial<HistoryEntry> = {}): HistoryEntry {
  const startedAt = new Date(Date.UTC(2026, 10, 25, 10, id)).toISOString();
  const finishedAt = new Date(Date.parse(startedAt) + id * 1000).toISOString();
  return { id, startedAt, finishedAt, commit: B, subject: `release ${id}`, reason: 'push', startedBy: 'git push (alice)', user: 'alice', targets, ...more };
}

/** web1 ok, web2 failed, web3 behind, web4 ok: in the config's order. */
function farmState(): State {
  return {
    version: 1,
    nextDeployId: 5,
    current: { commit: B, deployId: 4, at: '2026-11-25T10:04:04.000Z' },
    source: { commit: B, attempted: [] },
    targets: {
      web1: { commit: B, at: '2026-11-25T10:04:03.000Z', status: 'ok', attempted: [] },
      web2: { commit: A, at: '2026-11-24T09:00:00.000Z', status: 'failed', error: 'cannot connect to 127.0.0.3: connection refused', attempted: [] },
      web3: { commit: A, at: '2026-11-24T09:00:00.000Z', status: 'ok', attempted: [] },
      web4: { commit: B, at: '2026-11-25T10:04:03.000Z', status: 'ok', attempted: [] },
    },
  };
}

function history(): HistoryEntry[] {
  return [
    entry(1, [outcome('web1', 'ok'), outcome('web2', 'ok')], { commit: A, subject: 'first' }),
    entry(2, [], { refused: 'commit bbbbbbbbbb has no files: refusing to empty every host' }),
    entry(3, [outcome('web1', 'ok'), outcome('web2', 'failed', { error: 'rsync: connection refused' })]),
    entry(4, [outcome('web1', 'ok'), outcome('web2', 'failed', { error: 'rsync: connection refused' })], { message: 'fix the footer' }),
  ];
}

function facts(state: State, entries: readonly HistoryEntry[], subjects: Record<string, string> = { [A]: 'first', [B]: 'release 4' }): StatusFacts {
  const names = Object.keys(state.targets);
  const current = entries.find((e) => e.id === state.current?.deployId);
  return { status: farmStatus(names, state, B, undefined, current), subjects: new Map(Object.entries(subjects)), watchState: undefined, state, autoRollback: undefined, currentBuild: undefined };
}

function stage(state = farmState(), entries = history(), more: Partial<Parameters<typeof stageView>[0]> = {}): StageView {
  const targets = Object.keys(state.targets).map((name, i) => ({ name, dest: { kind: 'daemon' as const, user: 'deploy', host: `127.0.0.${i + 2}`, port: undefined, module: name, path: '' } }));
  return stageView({ name: 'site', branch: 'main', targets, facts: facts(state, entries), history: entries, ...more });
}

function page(s: StageView = stage()): string {
  return renderFarmPage({ generatedAt: '2026-11-25T10:05:00.000Z', stages: [s] });
}

function targetState(state: State, name: string): State['targets'][string] {
  const t = state.targets[name];
  if (t === undefined) throw new Error(`no ${name} in the fixture`);
  return t;
}

/** The data-host attributes of the hosts table, in the page's order. */
function hostOrder(html: string): string[] {
  return [...html.matchAll(/<tr data-host="([^"]*)" data-state="([^"]*)"/g)].map((m) => `${m[1] ?? ''} ${m[2] ?? ''}`);
}

describe('the farm page: hosts', () => {
  it('lists failed hosts first, with the reason, then those behind, then the rest in the config\'s order', () => {
    const html = page();
    expect(hostOrder(html)).toEqual(['web2 failed', 'web3 behind', 'web1 ok', 'web4 ok']);
    const web2 = /<tr data-host="web2"[^]*?<\/tr>/.exec(html)?.[0] ?? '';
    expect(web2).toContain('data-commit="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"');
    expect(web2).toContain('<td data-field="error" class="why">cannot connect to 127.0.0.3: connection refused</td>');
    // where it lives, as reports write it: no user, no password file
    expect(web2).toContain('<code>127.0.0.3::web2</code>');
    expect(web2).not.toContain('deploy@');
    expect(html).toContain('data-stage="site" data-ok="false"');
  });

  it('shows a host the farm switched without as lagging, after the failed ones, and the deploy that left it behind', () => {
    const state = farmState();
    state.targets.web3 = { ...targetState(state, 'web3'), status: 'failed', error: 'staging slot 2: cannot connect', lagging: { commit: B, since: 'x' } };
    const entries = [...history().slice(0, 3), entry(4, [outcome('web1', 'ok'), outcome('web3', 'failed')], { switch: { at: '2026-11-25T10:04:03.000Z', skewMs: 3, switched: 2, held: [], lagging: ['web3'] } })];
    const html = page(stage(state, entries));
    expect(hostOrder(html)).toEqual(['web2 failed', 'web3 lagging', 'web1 ok', 'web4 ok']);
    expect(/<tr data-host="web3"[^]*?<\/tr>/.exec(html)?.[0]).toContain('not switched, serves its old release; fanout sync catches it up: staging slot 2: cannot connect');
    expect(html).toContain('<span class="state lagging" data-lagging="web3">lagging</span> (not switched, serving their old release): web3');
  });

  it('shows every slot, what it holds and which is live', () => {
    const state = farmState();
    state.targets.web1 = { ...targetState(state, 'web1'), live: '2', slots: { 1: { commit: A, at: 'x', status: 'ok', attempted: [] }, 2: { commit: B, at: 'y', status: 'ok', attempted: [] } } };
    const html = page(stage(state));
    const web1 = /<tr data-host="web1"[^]*?<\/tr>/.exec(html)?.[0] ?? '';
    expect(web1).toMatch(/<li data-slot="1" data-live="false" data-slot-state="complete" data-commit="a{40}">slot 1: <code title="a{40}">aaaaaaaaaa<\/code> <span class="subject">first<\/span><\/li>/);
    expect(web1).toMatch(/<li data-slot="2" data-live="true" data-slot-state="complete" data-commit="b{40}">slot 2 <strong class="live">live<\/strong>: /);
    // a host written in place in the same farm says so in the slots column
    expect(/<tr data-host="web3"[^]*?<\/tr>/.exec(html)?.[0]).toContain('in place');
  });

  it('puts a deploy freeze at the top of its stage when there is one', () => {
    expect(page()).not.toContain('data-lock');
    const html = page({ ...stage(), lock: { by: 'carol', reason: 'black friday', since: '2026-11-27T00:00:00.000Z' } });
    expect(html).toMatch(/<div class="lock" role="alert" data-lock data-lock-by="carol"><strong>Deploys are frozen<\/strong> by carol since <time datetime="2026-11-27T00:00:00.000Z">2026-11-27 00:00:00 UTC<\/time>: black friday<\/div>/);
    expect(html.indexOf('data-lock')).toBeLessThan(html.indexOf('<table class="hosts">'));
  });
});

describe('the farm page: deploys', () => {
  it('lists the last deploys newest first: who, when, why, how long, each host\'s outcome', () => {
    const html = page();
    expect([...html.matchAll(/<tr data-deploy="(\d+)" data-outcome="([^"]+)"/g)].map((m) => `${m[1] ?? ''} ${m[2] ?? ''}`)).toEqual(['4 partial', '3 partial', '2 refused', '1 ok']);
    const last = /<tr data-deploy="4"[^]*?<\/tr>/.exec(html)?.[0] ?? '';
    expect(last).toContain('<td data-field="by">alice<br><small class="muted">git push (alice)</small></td>');
    expect(last).toContain('<td data-field="message"><q>fix the footer</q></td>');
    expect(last).toContain('<td data-field="took" data-ms="4000">4.0s</td>');
    expect(last).toContain('<td data-field="started"><time datetime="2026-11-25T10:04:00.000Z">2026-11-25 10:04:00 UTC</time></td>');
    expect(last).toMatch(/<li data-target="web2" data-status="failed">web2 <span class="state failed">failed<\/span> 0\.25s: <span class="why">rsync: connection refused<\/span><\/li>/);
  });

  it('shows a refusal as refused, with the line its deployer saw, and gives it no bar', () => {
    const html = page();
    const refused = /<tr data-deploy="2"[^]*?<\/tr>/.exec(html)?.[0] ?? '';
    expect(refused).toContain('>refused</span>');
    expect(refused).toContain('<p class="why">refused: commit bbbbbbbbbb has no files: refusing to empty every host</p>');
    expect(html).not.toContain('<g class="bar" data-deploy="2"');
  });

  it('charts one bar per deploy, oldest on the left, failed ones in another colour, each with a tooltip and the numbers in text', () => {
    const html = page();
    const bars = [...html.matchAll(/<g class="bar" data-deploy="(\d+)" data-outcome="(\w+)" data-duration-ms="(\d+)"><rect [^>]*fill="([^"]+)"><title>([^<]*)<\/title>/g)];
    expect(bars.map((b) => b[1])).toEqual(['1', '3', '4']);
    expect(bars.map((b) => b[3])).toEqual(['1000', '3000', '4000']);
    const colours = bars.map((b) => b[4]);
    expect(colours[1]).toBe(colours[2]);
    expect(colours[0]).not.toBe(colours[1]);
    expect(bars[2]?.[5]).toBe('#4 push by alice, 2026-11-25 10:04:00 UTC: 4.0s, partial');
    // the axis: its top a round number above the longest deploy, labelled as text
    expect(html).toMatch(/<text [^>]*class="axis">5.0s<\/text>/);
    expect(html).toContain('<figcaption>Durations, oldest first: #1 1.0s (ok), #3 3.0s (partial), #4 4.0s (partial).');
  });

  it('keeps the last 20 entries of a long history', () => {
    const long = Array.from({ length: 30 }, (_, i) => entry(i + 1, [outcome('web1', 'ok')]));
    const html = page(stage(farmState(), long));
    expect(PAGE_DEPLOYS).toBe(20);
    expect(html.match(/<tr data-deploy=/g)).toHaveLength(20);
    expect(html.match(/<g class="bar"/g)).toHaveLength(20);
    expect(html).toContain('<tr data-deploy="30"');
    expect(html).not.toContain('<tr data-deploy="10"');
  });

  it('says so when there is nothing yet', () => {
    const empty: State = { version: 1, nextDeployId: 1, current: null, source: { commit: null, attempted: [] }, targets: {} };
    const html = page(stageView({ name: 'site', branch: 'main', targets: [], facts: facts(empty, []), history: [] }));
    expect(html).toContain('No deploys yet.');
    expect(html).toContain('No deploy to chart yet.');
    expect(html).toContain('nothing yet (git push, or fanout deploy)');
  });
});

describe('the farm page: what it is made of', () => {
  it('escapes every name, subject, message and error, in text and in attributes', () => {
    const state = farmState();
    targetState(state, 'web2').error = NASTY;
    const entries = history().map((e) => ({ ...e, subject: NASTY, message: NASTY, refused: e.refused === undefined ? undefined : NASTY }));
    const html = page(stageView({ name: `site ${NASTY}`, branch: 'main', targets: [], facts: facts(state, entries, { [A]: NASTY, [B]: NASTY }), history: entries }));
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toContain(`"quoted"`);
    expect(html).not.toContain(`'single'`);
    expect(html).not.toMatch(/&(?!#\d+;|amp;|lt;|gt;|quot;)/);
    expect(html).toContain(escapeHtml(NASTY));
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62; &#34;quoted&#34; &#38; &#39;single&#39;\nsecond line');
    expect(html).toContain(`<section class="stage" data-stage="site ${escapeHtml(NASTY)}"`);
  });

  it('loads nothing from anywhere: no script, no URL, no font or style sheet, and a policy that forbids them', () => {
    const html = page();
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(|\bsrc=|\bhref=/i);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`);
  });

  it('never holds a secret of the config, even where the journal\'s text repeats one', () => {
    const config = parseConfig(
      [
        'repo: /srv/git/site.git',
        'source: /data/www',
        'targets:',
        '  - { name: web1, dest: "www1@127.0.0.2::web1", passwordFile: /etc/fanout/www1-secret.pwd }',
        '  - { name: web2, dest: "rsync://www2@127.0.0.3:873/web2/", passwordFile: /etc/fanout/www2-secret.pwd }',
        'build:',
        '  command: [make, site]',
        '  output: public',
        '  env: { API_TOKEN: tok-9f8e7d6c5b, NODE_ENV: prod }',
        'hooks:',
        '  before: [/usr/local/bin/freeze-check, --token, hook-arg-s3cret]',
        'checks:',
        '  url: "http://monitor:check-pa55word@{host}/health"',
      ].join('\n'),
      '/etc/fanout/fanout.yaml',
    );
    const state = farmState();
    state.targets = { web1: targetState(state, 'web1'), web2: { ...targetState(state, 'web2'), error: 'rsync: could not open password file /etc/fanout/www2-secret.pwd' } };
    const entries = [
      entry(4, [outcome('web1', 'ok'), outcome('web2', 'failed', { error: 'failed with /etc/fanout/www1-secret.pwd' })], {
        error: 'the build failed: exit 2: bad token tok-9f8e7d6c5b',
        rollout: { waves: [['web1']], checks: [{ target: 'web1', wave: 0, ok: false, detail: 'GET http://monitor:check-pa55word@127.0.0.2/health: refused', attempts: 1, durationMs: 5, at: 'x' }] },
      }),
    ];
    const view = stageView({ name: config.metrics.farm, branch: config.branch, targets: config.targets, facts: facts(state, entries), history: entries });
    const html = renderFarmPage(withoutSecrets({ generatedAt: '2026-11-25T10:05:00.000Z', stages: [view] }, configSecrets(config)));
    for (const secret of ['www1-secret.pwd', 'www2-secret.pwd', 'tok-9f8e7d6c5b', 'hook-arg-s3cret', 'freeze-check', 'check-pa55word', 'www1@', 'www2@', 'API_TOKEN', 'make']) expect(html, secret).not.toContain(secret);
    expect(html).toContain('could not open password file [hidden]');
    expect(html).toContain('GET http://[hidden]@127.0.0.2/health: refused');
    // too short to hide without mangling words and commit ids: not a secret worth the name
    expect(configSecrets(config)).toContain('prod');
    expect(withoutSecrets({ s: 'a prod release' }, ['prod'])).toEqual({ s: 'a prod release' });
  });
});
