import fs from 'node:fs';
import path from 'node:path';
import parsePrometheusTextFormat, { type MetricFamily } from 'parse-prometheus-text-format';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFarm, type Farm } from '../../../harness/farm.js';

// metrics.textfile as node_exporter's textfile collector reads it, after real pushes to real
// daemons: parsed with a Prometheus text-format parser from npm, not with the code that wrote it.

let farm: Farm;
let textfile: string;

beforeEach(async () => {
  farm = await createFarm({ targets: 2, firstHost: 155 });
  const collectorDir = path.join(farm.root, 'node-exporter');
  fs.mkdirSync(collectorDir);
  textfile = path.join(collectorDir, 'fanout.prom');
  farm.writeConfig({ metrics: { textfile } });
});

afterEach(async () => {
  await farm.cleanup();
});

function metrics(text = fs.readFileSync(textfile, 'utf8')): (name: string, labels?: Record<string, string>) => number | undefined {
  const families = new Map<string, MetricFamily>(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  return (name, labels = {}) => {
    const sample = families.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
    return sample === undefined ? undefined : Number(sample.value);
  };
}

describe('metrics.textfile', () => {
  it('is rewritten after a successful and a failed deploy, and says which target is behind and why', async () => {
    farm.write({ 'index.html': 'v1', 'css/site.css': 'body{}' });
    const v1 = await farm.commit('v1');
    await farm.push();
    let m = metrics();
    for (const name of ['web1', 'web2']) {
      expect(m('fanout_target_info', { target: name, commit: v1 })).toBe(1);
      expect(m('fanout_target_up_to_date', { target: name })).toBe(1);
      expect(m('fanout_target_last_outcome', { target: name, outcome: 'ok' })).toBe(1);
      expect(m('fanout_target_commits_behind', { target: name })).toBe(0);
      expect(m('fanout_target_last_deploy_sent_files', { target: name })).toBe(2);
      expect(m('fanout_target_last_deploy_sent_bytes', { target: name })).toBe(8);
      expect(m('fanout_target_last_success_timestamp_seconds', { target: name })).toBeGreaterThan(Date.now() / 1000 - 600);
    }
    expect(m('fanout_deploys_total', { reason: 'push', outcome: 'ok' })).toBe(1);
    expect(m('fanout_last_deploy_success')).toBe(1);
    expect(m('fanout_branch_tip_deployed', { branch: 'main' })).toBe(1);
    // every sample says which farm it is: the repository's name here
    expect(parsePrometheusTextFormat(fs.readFileSync(textfile, 'utf8')).every((f) => f.metrics.every((s) => s.labels?.farm === path.basename(farm.repo, '.git')))).toBe(true);
    // node_exporter runs as a user of its own
    expect(fs.statSync(textfile).mode & 0o777).toBe(0o644);
    // nothing half-written is left beside it for the collector to trip on
    expect(fs.readdirSync(path.dirname(textfile))).toEqual(['fanout.prom']);

    const web2 = farm.daemons[1];
    if (web2 === undefined) throw new Error('no web2');
    await web2.stop();
    farm.write({ 'index.html': 'v2' });
    const v2 = await farm.commit('v2');
    await farm.push();
    m = metrics();
    expect(m('fanout_target_info', { target: 'web1', commit: v2 })).toBe(1);
    expect(m('fanout_target_info', { target: 'web2', commit: v1 })).toBe(1);
    expect(m('fanout_target_up_to_date', { target: 'web2' })).toBe(0);
    expect(m('fanout_target_last_outcome', { target: 'web2', outcome: 'failed' })).toBe(1);
    expect(m('fanout_target_commits_behind', { target: 'web2' })).toBe(1);
    expect(m('fanout_target_last_deploy_sent_files', { target: 'web1' })).toBe(1);
    expect(m('fanout_deploys_total', { reason: 'push', outcome: 'partial' })).toBe(1);
    expect(m('fanout_deploys_total', { reason: 'push', outcome: 'ok' })).toBe(1);
    expect(m('fanout_last_deploy_success')).toBe(0);

    // status --prometheus prints the same, once
    const status = await farm.fanout(['status', '--prometheus']);
    expect(status.exitCode).toBe(0);
    // (the harness drops the last newline of what it captures)
    expect(`${status.stdout}\n`).toBe(fs.readFileSync(textfile, 'utf8'));

    await web2.start();
    expect((await farm.fanout(['sync'])).exitCode).toBe(0);
    m = metrics();
    expect(m('fanout_target_up_to_date', { target: 'web2' })).toBe(1);
    expect(m('fanout_target_commits_behind', { target: 'web2' })).toBe(0);
    expect(m('fanout_deploys_total', { reason: 'sync', outcome: 'ok' })).toBe(1);
  });

  it('a deploy stopped before any target is written (a before hook) is a failed deploy; a refused commit is no deploy; both leave the branch tip not deployed', async () => {
    farm.write({ 'index.html': 'v1' });
    const v1 = await farm.commit('v1');
    await farm.push();
    farm.writeConfig({ metrics: { textfile }, hooks: { before: ['sh', '-c', 'echo deploy freeze >&2; exit 3'] } });
    farm.write({ 'index.html': 'v2' });
    const v2 = await farm.commit('v2');
    expect((await farm.push()).stderr).toMatch(/remote: fanout: the before hook .* failed: exit 3: deploy freeze; nothing was touched/);
    const m = metrics();
    expect(m('fanout_deploys_total', { reason: 'push', outcome: 'ok' })).toBe(1);
    expect(m('fanout_deploys_total', { reason: 'push', outcome: 'failed' })).toBe(1);
    expect(m('fanout_last_deploy_success')).toBe(0);
    // the targets still serve v1, and say so
    expect(m('fanout_target_info', { target: 'web1', commit: v1 })).toBe(1);
    expect(m('fanout_target_up_to_date', { target: 'web1' })).toBe(1);
    expect(farm.history().at(-1)).toMatchObject({ commit: v2, reason: 'push', targets: [], error: expect.stringMatching(/deploy freeze/) as string });
    expect((await farm.fanout(['history'])).stdout).toMatch(/push .* failed before any target\n +failed: the before hook/);
    expect(m('fanout_branch_tip_deployed', { branch: 'main' })).toBe(0);

    // a commit refused as bad input (it deletes everything) is not a deploy: recorded as refused, counted nowhere
    farm.writeConfig({ metrics: { textfile } });
    const recorded = farm.history().length;
    await farm.git(['rm', '-r', '-q', '.']);
    await farm.commit('empty');
    expect((await farm.push()).stderr).toMatch(/remote: fanout: commit [0-9a-f]{10} has no files/);
    expect(farm.history()).toHaveLength(recorded + 1);
    expect(farm.history().at(-1)).toMatchObject({ reason: 'push', targets: [], refused: expect.stringMatching(/^commit [0-9a-f]{10} has no files/) as string });
    const after = metrics();
    expect(after('fanout_deploys_total', { reason: 'push', outcome: 'ok' })).toBe(1);
    expect(after('fanout_deploys_total', { reason: 'push', outcome: 'failed' })).toBe(1);
    expect(after('fanout_last_deploy_timestamp_seconds')).toBe(m('fanout_last_deploy_timestamp_seconds'));
    expect(after('fanout_branch_tip_deployed', { branch: 'main' })).toBe(0);
  });

  it('a textfile that cannot be written is a warning: the deploy itself succeeds', async () => {
    farm.writeConfig({ metrics: { textfile: path.join(farm.root, 'missing', 'dir', 'fanout.prom') } });
    farm.write({ 'index.html': 'v1' });
    await farm.commit('v1');
    const push = await farm.push();
    expect(push.stderr).toMatch(/remote: warning: metrics\.textfile: cannot write .*fanout\.prom/);
    expect(push.stderr).toMatch(/remote: +web1 +ok/);
    expect((await farm.fanout(['status'])).exitCode).toBe(0);
    const doctor = await farm.fanout(['doctor']);
    expect(doctor.stdout).toMatch(/problem +metrics textfile +.*missing\/dir does not exist; fix: create it/);
  });
});
