import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createFarm, type Farm } from '../../../harness/farm.js';

// stages: one repository, a staging farm (web1) and a production farm (web2, web3) that gets only
// what staging has proved, by fanout promote: the same build, never rebuilt.

let farm: Farm;

function stagesConfig(): void {
  const [web1, web2, web3] = farm.daemons.map((d) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile }));
  const staging = farm.daemons[0]?.dir ?? '';
  fs.writeFileSync(
    farm.configFile,
    stringify({
      repo: farm.repo,
      source: path.join(farm.root, 'sources'),
      retries: 0,
      timeout: 10,
      page: { dir: path.join(farm.root, 'page') },
      // the build stamps when it ran: a promoted build that was made again would differ
      build: { command: ['sh', '-c', 'mkdir -p out && cp index.html out/ && date +%s%N > out/built-at'], output: 'out', timeout: 30 },
      stages: {
        staging: {
          branch: 'staging',
          targets: [web1],
          // a visitor's check: a page that says BROKEN fails it
          checks: { command: ['sh', '-c', `! grep -q BROKEN '${staging}/index.html'`], retries: 0 },
          rollout: { onFailure: 'stop' },
        },
        production: { targets: [web2, web3] },
      },
    }),
  );
}

beforeEach(async () => {
  farm = await createFarm({ targets: 3, firstHost: 108 });
  stagesConfig();
  const init = await farm.fanout(['init']);
  expect(init.exitCode, init.stderr).toBe(0);
});

afterEach(async () => {
  await farm.cleanup();
});

const read = (i: number, file: string): string => fs.readFileSync(path.join(farm.daemons[i]?.dir ?? '', file), 'utf8');
const historyOf = (stage: string): { commit: string; reason: string; build?: { source: string; reused: boolean }; startedBy: string }[] =>
  fs
    .readFileSync(path.join(farm.repo, 'fanout', stage, 'history.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { commit: string; reason: string; startedBy: string });

describe('stages and promote', () => {
  it('a push to staging deploys staging only; promote gives production the same build, not rebuilt', async () => {
    farm.write({ 'index.html': '<h1>v1</h1>' });
    const source = await farm.commit('v1');
    const pushed = await farm.push(['origin', 'HEAD:staging']);
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    expect(pushed.stderr).toMatch(/remote: fanout: stage staging: refs\/heads\/staging/);
    expect(read(0, 'index.html')).toBe('<h1>v1</h1>');
    expect(fs.existsSync(path.join(farm.daemons[1]?.dir ?? '', 'index.html'))).toBe(false);

    // several stages: a command names one
    const ambiguous = await farm.fanout(['status']);
    expect(ambiguous.exitCode).toBe(2);
    expect(ambiguous.stderr).toMatch(/has stages staging, production: name one with --stage NAME/);
    expect((await farm.fanout(['status', '--stage', 'staging'])).exitCode).toBe(0);

    const promoted = await farm.fanout(['promote', 'staging', 'production', '-m', 'staging looked fine']);
    expect(promoted.exitCode, promoted.stderr).toBe(0);
    for (const i of [1, 2]) {
      expect(read(i, 'index.html')).toBe('<h1>v1</h1>');
      expect(read(i, 'built-at')).toBe(read(0, 'built-at'));
    }
    const [staged] = historyOf('staging');
    const last = historyOf('production').at(-1);
    expect(last).toMatchObject({ reason: 'promote', commit: staged?.commit, build: { source, reused: true } });
    expect(last?.startedBy).toMatch(/, from stage staging$/);
    const metrics = (await farm.fanout(['status', '--prometheus', '--stage', 'production'])).stdout;
    expect(metrics).toMatch(/^fanout_deploys_total\{farm="site",stage="production",reason="promote",outcome="ok"\} 1$/m);

    // one farm page for the update server: every stage, in the config's order, and a stage's lock
    expect((await farm.fanout(['lock', '--stage', 'production', '-m', 'launch day'])).exitCode).toBe(0);
    const page = fs.readFileSync(path.join(farm.root, 'page', 'index.html'), 'utf8');
    expect([...page.matchAll(/data-stage="([^"]+)"/g)].map((m) => m[1])).toEqual(['staging', 'production']);
    expect(page).toMatch(/data-lock[^>]*>.*launch day/);

    // an incident stops every stage at once
    expect((await farm.fanout(['unlock', '--stage', 'production'])).exitCode).toBe(0);
    const all = await farm.fanout(['lock', '--all-stages', '-m', 'incident 7']);
    expect(all.exitCode, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/^deploys to stage staging are locked by .*: incident 7\ndeploys to stage production are locked by .*: incident 7\n/);
    farm.write({ 'index.html': '<h1>during the incident</h1>' });
    await farm.commit('during the incident');
    expect((await farm.push(['origin', 'HEAD:staging'])).stderr).toMatch(/remote: fanout: deploys are locked by .*: incident 7/);
    expect(read(0, 'index.html')).toBe('<h1>v1</h1>');
    expect((await farm.fanout(['unlock', '--all-stages'])).stdout).toMatch(/deploys to stage staging go out again\n.*deploys to stage production go out again/);

    // each stage's own log, each line naming its stage
    const log = fs.readFileSync(path.join(farm.repo, 'fanout', 'production', 'fanout.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { stage?: string; msg: string });
    expect(log.find((l) => l.msg === 'deploy started')).toMatchObject({ stage: 'production' });

    // production has no branch: a push to main deploys nothing
    const main = await farm.push(['origin', 'HEAD:main']);
    expect(main.stderr).toMatch(/ignoring refs\/heads\/main: only refs\/heads\/staging deploy/);
  });

  it('promote refuses a release that failed its check on staging, or that staging does not serve everywhere', async () => {
    farm.write({ 'index.html': '<h1>v1</h1>' });
    await farm.commit('v1');
    expect((await farm.push(['origin', 'HEAD:staging'])).exitCode).toBe(0);
    farm.write({ 'index.html': '<h1>BROKEN</h1>' });
    await farm.commit('broken');
    await farm.push(['origin', 'HEAD:staging']);
    const refused = await farm.fanout(['promote', 'staging', 'production']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/^fanout: [0-9a-f]{10} failed its check on stage staging \(web1: .+\); nothing was promoted$/m);
    expect(fs.existsSync(path.join(farm.daemons[1]?.dir ?? '', 'index.html'))).toBe(false);

    // staging fixed, but web1 down: staging does not serve it everywhere
    farm.write({ 'index.html': '<h1>v2</h1>' });
    await farm.commit('v2');
    await farm.daemons[0]?.stop();
    await farm.push(['origin', 'HEAD:staging']);
    const notServed = await farm.fanout(['promote', 'staging', 'production']);
    expect(notServed.exitCode).toBe(1);
    expect(notServed.stderr).toMatch(/stage staging does not serve [0-9a-f]{10} on every target: web1 \(failed: cannot connect/);
    expect(fs.existsSync(path.join(farm.daemons[1]?.dir ?? '', 'index.html'))).toBe(false);
  });
});
