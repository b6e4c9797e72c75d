import parsePrometheusTextFormat, { type MetricFamily } from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import type { Commit } from '../../../src/base/git.js';
import type { HistoryEntry, State, TargetOutcome } from '../../../src/engine/journal.js';
import { prometheusText, type MetricsFacts } from '../../../src/observe/metrics.js';
import { countDeploy, countDeploys, deployOutcome } from '../../../src/engine/state.js';

const A = 'a'.repeat(40) as Commit;
const B = 'b'.repeat(40) as Commit;

function outcome(name: string, status: 'ok' | 'failed', more: Partial<TargetOutcome> = {}): TargetOutcome {
  return { name, status, mode: 'paths', from: A, sent: 3, deleted: 1, bytes: 2048, durationMs: 250, attempts: 1, ...more };
}

function entry(id: number, reason: HistoryEntry['reason'], targets: TargetOutcome[], more: Partial<HistoryEntry> = {}): HistoryEntry {
  return { id, startedAt: '2026-11-25T10:00:00.000Z', finishedAt: '2026-11-25T10:00:02.000Z', commit: B, subject: 's', reason, startedBy: 'git push (alice)', targets, ...more };
}

/** web1 took B; web2 failed and still serves A; web3 never deployed. */
function facts(more: Partial<MetricsFacts> = {}): MetricsFacts {
  const state: State = {
    version: 1,
    nextDeployId: 3,
    current: { commit: B, deployId: 2, at: '2026-11-25T10:00:02.000Z' },
    source: { commit: B, attempted: [] },
    targets: {
      web1: { commit: B, at: '2026-11-25T10:00:01.500Z', status: 'ok', attempted: [] },
      web2: { commit: A, at: '2026-11-24T09:00:00.000Z', status: 'failed', error: 'cannot connect', attempted: [] },
    },
  };
  const recent = [entry(1, 'push', [outcome('web1', 'ok'), outcome('web2', 'ok')], { commit: A, switch: { at: 'x', skewMs: 40, switched: 2, held: [] } }), entry(2, 'push', [outcome('web1', 'ok', { sent: 1, bytes: 10, durationMs: 120 }), outcome('web2', 'failed', { sent: 0, bytes: 0 })])];
  return { farm: 'site', state, targets: ['web1', 'web2', 'web3'], recent, behind: new Map([['web1', 0], ['web2', 2]]), deploys: countDeploys(recent), ...more };
}

function parsed(text: string): Map<string, MetricFamily> {
  return new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
}

function value(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  const sample = families.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample === undefined ? undefined : Number(sample.value);
}

describe('metrics in the Prometheus text format', () => {
  it('per target: its commit, whether it has the current deploy, when it last succeeded, its last outcome, how far behind, its last deploy', () => {
    const m = parsed(prometheusText(facts()));
    expect(value(m, 'fanout_target_info', { target: 'web1', commit: B })).toBe(1);
    expect(value(m, 'fanout_target_info', { target: 'web2', commit: A })).toBe(1);
    // a target that never received a deploy has no commit to show
    expect(m.get('fanout_target_info')?.metrics.some((s) => s.labels?.target === 'web3')).toBe(false);
    expect(value(m, 'fanout_target_up_to_date', { target: 'web1' })).toBe(1);
    expect(value(m, 'fanout_target_up_to_date', { target: 'web2' })).toBe(0);
    expect(value(m, 'fanout_target_last_success_timestamp_seconds', { target: 'web2' })).toBe(Date.parse('2026-11-24T09:00:00.000Z') / 1000);
    expect(value(m, 'fanout_target_last_outcome', { target: 'web2', outcome: 'failed' })).toBe(1);
    expect(value(m, 'fanout_target_last_outcome', { target: 'web2', outcome: 'ok' })).toBe(0);
    expect(value(m, 'fanout_target_commits_behind', { target: 'web2' })).toBe(2);
    expect(value(m, 'fanout_target_last_deploy_sent_files', { target: 'web1' })).toBe(1);
    expect(value(m, 'fanout_target_last_deploy_sent_bytes', { target: 'web1' })).toBe(10);
    expect(value(m, 'fanout_target_last_deploy_duration_seconds', { target: 'web1' })).toBe(0.12);
  });

  it('per target: whether the farm switched to the current deploy without it (it lags)', () => {
    const base = facts();
    const web2 = { commit: A, at: '2026-11-24T09:00:00.000Z', status: 'failed' as const, error: 'cannot connect', attempted: [], lagging: { commit: B, since: '2026-11-25T10:00:02.000Z' } };
    const lagging = { ...base.state, targets: { ...base.state.targets, web2 } };
    const m = parsed(prometheusText(facts({ state: lagging })));
    expect(value(m, 'fanout_target_lagging', { target: 'web2' })).toBe(1);
    expect(value(m, 'fanout_target_lagging', { target: 'web1' })).toBe(0);
    // failed, and not left behind by a switch of the farm: not lagging
    expect(value(parsed(prometheusText(base)), 'fanout_target_lagging', { target: 'web2' })).toBe(0);
  });

  it('per farm: deploys by reason and outcome, automatic rollbacks, the last switch skew, the last deploy', () => {
    const m = parsed(prometheusText(facts({ deploys: { 'push ok': 5, 'push partial': 1, 'auto-rollback ok': 2 } })));
    expect(value(m, 'fanout_deploys_total', { reason: 'push', outcome: 'ok' })).toBe(5);
    expect(value(m, 'fanout_deploys_total', { reason: 'push', outcome: 'partial' })).toBe(1);
    // every series from the start, so that rate() sees the first failure
    expect(value(m, 'fanout_deploys_total', { reason: 'rollback', outcome: 'failed' })).toBe(0);
    expect(value(m, 'fanout_auto_rollbacks_total')).toBe(2);
    expect(value(m, 'fanout_last_switch_skew_seconds')).toBe(0.04);
    expect(value(m, 'fanout_last_deploy_success')).toBe(0);
    expect(value(m, 'fanout_last_deploy_timestamp_seconds')).toBe(Date.parse('2026-11-25T10:00:02.000Z') / 1000);
  });

  it("follows Prometheus' naming conventions: a fanout_ prefix, base units in the name, _total only on counters", () => {
    const families = parsePrometheusTextFormat(prometheusText(facts()));
    expect(families.length).toBeGreaterThan(10);
    for (const f of families) {
      expect(f.name).toMatch(/^fanout_[a-z][a-z0-9_]*$/);
      expect(f.help.length).toBeGreaterThan(10);
      if (f.type === 'COUNTER') expect(f.name).toMatch(/_total$/);
      else expect(f.name).not.toMatch(/_total$/);
      if (/duration|skew|timestamp/.test(f.name)) expect(f.name).toMatch(/_seconds$/);
      if (/bytes/.test(f.name)) expect(f.name).toMatch(/_bytes$/);
      for (const sample of f.metrics) for (const key of Object.keys(sample.labels ?? {})) expect(key).toMatch(/^[a-z][a-z0-9_]*$/);
    }
  });

  it('escapes label values', () => {
    const odd = facts({ targets: ['we"b\\1'], state: { ...facts().state, targets: { 'we"b\\1': { commit: B, at: null, status: 'ok', attempted: [] } } } });
    expect(value(parsed(prometheusText(odd)), 'fanout_target_info', { target: 'we"b\\1' })).toBe(1);
  });

  it('the person behind the last deploy: a label on one info sample, escaped, and on no counter', () => {
    const last = entry(3, 'push', [outcome('web1', 'ok')], { user: 'o"dd\\name' });
    const m = parsed(prometheusText(facts({ recent: [...facts().recent, last] })));
    expect(m.get('fanout_last_deploy_info')?.metrics).toEqual([{ labels: { farm: 'site', reason: 'push', user: 'o"dd\\name', commit: B }, value: '1' }]);
    for (const f of m.values()) if (f.type === 'COUNTER') for (const sample of f.metrics) expect(Object.keys(sample.labels ?? {})).not.toContain('user');
    // a deploy recorded before fanout knew the person: an empty label
    expect(value(parsed(prometheusText(facts())), 'fanout_last_deploy_info', { user: '' })).toBe(1);
  });

  it('every sample carries the farm label: two farms\' files on one server never hold the same series', () => {
    const families = parsePrometheusTextFormat(prometheusText(facts({ farm: 'shop' })));
    const samples = families.flatMap((f) => f.metrics);
    expect(samples.length).toBeGreaterThan(20);
    for (const sample of samples) expect(sample.labels?.farm).toBe('shop');
  });

  it('whether the branch tip is deployed, while the branch has commits', () => {
    expect(value(parsed(prometheusText(facts({ branch: { name: 'main', tipDeployed: false } }))), 'fanout_branch_tip_deployed', { branch: 'main' })).toBe(0);
    expect(value(parsed(prometheusText(facts({ branch: { name: 'main', tipDeployed: true } }))), 'fanout_branch_tip_deployed', { branch: 'main' })).toBe(1);
    expect(parsed(prometheusText(facts())).get('fanout_branch_tip_deployed')?.metrics ?? []).toEqual([]);
  });

  it('an empty journal: no target series, counters at zero', () => {
    const empty: MetricsFacts = { farm: 'site', state: { version: 1, nextDeployId: 1, current: null, source: { commit: null, attempted: [] }, targets: {} }, targets: ['web1'], recent: [], behind: new Map(), deploys: {} };
    const m = parsed(prometheusText(empty));
    expect(m.get('fanout_target_up_to_date')?.metrics ?? []).toEqual([]);
    expect(value(m, 'fanout_deploys_total', { reason: 'push', outcome: 'ok' })).toBe(0);
    expect(m.get('fanout_last_deploy_success')?.metrics ?? []).toEqual([]);
    expect(m.get('fanout_last_deploy_info')?.metrics ?? []).toEqual([]);
  });
});

describe('the deploy counters', () => {
  it('ok, partial, failed: a check that stopped the rollout, or an error before any target, is failed', () => {
    expect(deployOutcome(entry(1, 'push', [outcome('web1', 'ok')]))).toBe('ok');
    expect(deployOutcome(entry(1, 'push', [outcome('web1', 'ok'), outcome('web2', 'failed')]))).toBe('partial');
    expect(deployOutcome(entry(1, 'push', [outcome('web1', 'failed')]))).toBe('failed');
    expect(deployOutcome(entry(1, 'push', [], { error: 'checkout failed' }))).toBe('failed');
    expect(deployOutcome(entry(1, 'push', [outcome('web1', 'ok')], { rollout: { waves: [['web1']], checks: [], stopped: { wave: 0, target: 'web1', detail: 'HTTP 500' } } }))).toBe('failed');
  });

  it('a journal from before the counters is seeded from its history once, then counted one by one', () => {
    const state = facts().state;
    let reads = 0;
    const history = (): HistoryEntry[] => {
      reads += 1;
      return [entry(1, 'push', [outcome('web1', 'ok')]), entry(2, 'sync', [outcome('web1', 'failed')])];
    };
    countDeploy(state, entry(3, 'push', [outcome('web1', 'ok')]), history);
    countDeploy(state, entry(4, 'rollback', [outcome('web1', 'ok')]), history);
    expect(state.deploys).toEqual({ 'push ok': 2, 'sync failed': 1, 'rollback ok': 1 });
    expect(reads).toBe(1);
  });

  it('a refused push is no deploy: no counter counts it, and the last deploy is the one before it', () => {
    const refused = entry(3, 'push', [], { refused: 'commit bbbbbbbbbb has no files', finishedAt: '2026-11-25T11:00:00.000Z' });
    expect(countDeploys([entry(1, 'push', [outcome('web1', 'ok')]), refused])).toEqual({ 'push ok': 1 });
    const state = facts().state;
    state.deploys = { 'push ok': 1 };
    countDeploy(state, refused, () => []);
    expect(state.deploys).toEqual({ 'push ok': 1 });
    const before = facts();
    const m = parsed(prometheusText({ ...before, recent: [...before.recent, refused] }));
    expect(value(m, 'fanout_last_deploy_timestamp_seconds')).toBe(Date.parse('2026-11-25T10:00:02.000Z') / 1000);
    expect(value(m, 'fanout_last_deploy_success')).toBe(0);
  });
});
