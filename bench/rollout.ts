/**
 * The health-gated rollout scenario of `npm run bench`: PHP behind nginx on every host (php-fpm,
 * opcache revalidating, or frozen with a php-fpm reload after each switch), a steady load of
 * requests to every host from autocannon, and 20 deploys with slots, a canary and batches, each
 * checked. Counted: responses that are not 2xx, responses whose page and included file disagree,
 * and responses from a release that was not live on that host at any time during the request.
 */
import fs from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { createFarm, type Farm } from '../harness/farm.js';
import { startWebServer, type WebServer } from '../harness/nginx.js';
import { startPhpFpm, type PhpFpm } from '../harness/phpfpm.js';
import { spread, type Spread } from './lab/stats.js';

export interface RolloutLoadRow {
  opcache: 'revalidating' | 'frozen, reloaded after each switch';
  deploys: number;
  requests: number;
  non2xx: number;
  /** page and included file of different releases */
  mixed: number;
  /** a release that was not live on that host at the request's start nor at its end */
  stale: number;
  /** from the canary's switch to the last batch's check passing */
  canaryToLastCheck: Spread;
}

export interface RolloutLoadOptions {
  deploys: number;
  firstHost: number;
}

const TARGETS = 3;

/** The release a host serves, as its `current` says: the version file of the slot it points to. */
function liveVersion(dir: string): string {
  try {
    return fs.readFileSync(path.join(fs.realpathSync(path.join(dir, 'current')), 'version.txt'), 'utf8').trim();
  } catch {
    return '';
  }
}

function writeRelease(farm: Farm, n: number): void {
  fs.writeFileSync(path.join(farm.clone, 'index.php'), `<?php require __DIR__ . '/lib.php'; echo "v${n} ", lib();\n`);
  fs.writeFileSync(path.join(farm.clone, 'lib.php'), `<?php function lib() { return "v${n}"; }\n`);
  fs.writeFileSync(path.join(farm.clone, 'version.txt'), `v${n}\n`);
}

async function run(options: RolloutLoadOptions, frozen: boolean, say: (line: string) => void): Promise<RolloutLoadRow> {
  const farm = await createFarm({ targets: TARGETS, firstHost: options.firstHost });
  const php: PhpFpm[] = [];
  const web: WebServer[] = [];
  try {
    for (const [i, d] of farm.daemons.entries()) {
      const fpm = await startPhpFpm(path.join(farm.root, `php-${d.name}`), { validateTimestamps: !frozen });
      php.push(fpm);
      web.push(await startWebServer({ hostIndex: options.firstHost + i, dir: path.join(farm.root, `nginx-${d.name}`), root: path.join(d.dir, 'current'), php: { socket: fpm.socket, root: 'realpath' } }));
    }
    // frozen opcache: each host's php-fpm reloaded (SIGUSR2, requests in flight finish) after its switch
    const reload = path.join(farm.root, 'reload.sh');
    fs.writeFileSync(reload, `#!/bin/sh\nkill -USR2 "$(cat ${farm.root}/php-$FANOUT_TARGET/php-fpm.pid)"\nsleep 0.2\n`, { mode: 0o755 });
    const configure = (n: number): void => {
      farm.writeConfig(
        {
          layout: 'slots',
          slotGrace: 1,
          checks: { body: `v${n} v${n}`, retries: 10, retryDelay: 0.1, timeout: 2 },
          rollout: { canary: 1, batch: 1 },
          ...(frozen ? { hooks: { afterSwitch: [reload] } } : {}),
        },
        farm.daemons.map((d, i) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile, checkUrl: `${web[i]?.origin ?? ''}/index.php` })),
      );
    };
    writeRelease(farm, 0);
    configure(0);
    await farm.commit('v0');
    await farm.push();
    const counts = { requests: 0, non2xx: 0, mixed: 0, stale: 0 };
    const loads = farm.daemons.map((d, i) =>
      autocannon({
        url: `${web[i]?.origin ?? ''}/index.php`,
        connections: 2,
        duration: 600,
        requests: [
          {
            setupRequest: (request, context) => {
              context.before = liveVersion(d.dir);
              return request;
            },
            onResponse: (status, body, context) => {
              counts.requests += 1;
              if (status < 200 || status > 299) {
                counts.non2xx += 1;
                return;
              }
              const [page = '', lib = ''] = body.trim().split(' ');
              if (page !== lib) counts.mixed += 1;
              if (page !== context.before && page !== liveVersion(d.dir)) counts.stale += 1;
            },
          },
        ],
      }),
    );
    const spans: number[] = [];
    say(`[rollout] opcache ${frozen ? 'frozen' : 'revalidating'}: ${options.deploys} deploys under load on ${TARGETS} hosts`);
    for (let n = 1; n <= options.deploys; n += 1) {
      writeRelease(farm, n);
      configure(n);
      await farm.commit(`v${n}`);
      const push = await farm.push();
      const entry = farm.history().at(-1);
      const checks = entry?.rollout?.checks ?? [];
      const switched = entry?.targets.map((t) => Date.parse(t.switchedAt ?? '')).filter((at) => !Number.isNaN(at)) ?? [];
      if (entry?.commit === undefined || entry.reason !== 'push' || checks.length !== TARGETS || checks.some((c) => !c.ok) || switched.length !== TARGETS) throw new Error(`deploy ${n} did not roll out:\n${push.stderr}`);
      // from the canary's switch to the last batch's check
      spans.push(Math.max(...checks.map((c) => Date.parse(c.at))) - Math.min(...switched));
    }
    for (const l of loads) l.stop();
    await Promise.all(loads);
    return { opcache: frozen ? 'frozen, reloaded after each switch' : 'revalidating', deploys: options.deploys, ...counts, canaryToLastCheck: spread(spans) };
  } finally {
    await Promise.all(web.map((w) => w.stop()));
    await Promise.all(php.map((p) => p.stop()));
    await farm.cleanup();
  }
}

export async function rolloutLoadScenario(options: RolloutLoadOptions, say: (line: string) => void): Promise<RolloutLoadRow[]> {
  return [await run(options, false, say), await run(options, true, say)];
}

/** The bad window of a release that fails its check on the last batch, with an onFailure hook of this length, or none. */
export interface BadWindowRow {
  hookSeconds: number | undefined;
  failures: number;
  /** from the failed check's answer to the last host switched back */
  window: Spread;
}

/**
 * A release every host takes, failing its check on the last batch (`onFailure: rollback`), with a
 * slow onFailure hook (a chat notification that takes its time) and with none, side by side: the
 * way back comes first, so the hook must not lengthen the window.
 */
export async function badWindowScenario(options: RolloutLoadOptions, say: (line: string) => void): Promise<BadWindowRow[]> {
  const farm = await createFarm({ targets: TARGETS, firstHost: options.firstHost });
  const web: WebServer[] = [];
  try {
    for (const [i, d] of farm.daemons.entries()) web.push(await startWebServer({ hostIndex: options.firstHost + i, dir: path.join(farm.root, `nginx-${d.name}`), root: path.join(d.dir, 'current') }));
    const hook = path.join(farm.root, 'notify.sh');
    const last = farm.daemons.at(-1)?.name ?? '';
    const windows = new Map<number | undefined, number[]>([
      [undefined, []],
      [3, []],
    ]);
    say(`[rollout] bad window: ${options.deploys} failed releases with no onFailure hook and with a 3 s one`);
    for (let n = 0; n < options.deploys; n += 1) {
      for (const [hookSeconds, spans] of windows) {
        fs.writeFileSync(hook, `#!/bin/sh\nsleep ${hookSeconds ?? 0}\n`, { mode: 0o755 });
        farm.writeConfig(
          { layout: 'slots', slotGrace: 0, checks: { retries: 0, timeout: 2 }, rollout: { canary: 1, batch: 1, onFailure: 'rollback' }, ...(hookSeconds === undefined ? {} : { hooks: { onFailure: [hook] } }) },
          farm.daemons.map((d, i) => ({ name: d.name, dest: d.dest, passwordFile: d.passwordFile, checkUrl: `${web[i]?.origin ?? ''}/${d.name}.html` })),
        );
        // a good release, then one whose page the last host is checked on is gone
        farm.write(Object.fromEntries(farm.daemons.map((d) => [`${d.name}.html`, `ok ${n}`])));
        await farm.commit(`good ${n}`);
        await farm.push();
        farm.remove(`${last}.html`);
        await farm.commit(`bad ${n}`);
        const push = await farm.push();
        const [failed, back] = farm.history().slice(-2);
        const answer = failed?.rollout?.checks.find((c) => !c.ok);
        const switched = back?.targets.map((t) => Date.parse(t.switchedAt ?? '')).filter((at) => !Number.isNaN(at)) ?? [];
        if (answer === undefined || back?.reason !== 'auto-rollback' || switched.length !== TARGETS) throw new Error(`release ${n} was not rolled back from every host:\n${push.stderr}`);
        spans.push(Math.max(...switched) - Date.parse(answer.at));
      }
    }
    return [...windows].map(([hookSeconds, spans]) => ({ hookSeconds, failures: spans.length, window: spread(spans) }));
  } finally {
    await Promise.all(web.map((w) => w.stop()));
    await farm.cleanup();
  }
}

export function badWindowMarkdown(rows: readonly BadWindowRow[]): string[] {
  if (rows.length === 0) return [];
  const lines = [`## The bad window: a release that fails its check on the last of ${TARGETS} hosts, rolled back`, ''];
  lines.push('| onFailure hook | failed releases | failed check to the last host switched back (median, min-max) |', '| --- | ---: | ---: |');
  for (const r of rows) lines.push(`| ${r.hookSeconds === undefined ? 'none' : `sleeps ${r.hookSeconds} s`} | ${r.failures} | ${(r.window.median / 1000).toFixed(2)} s (${(r.window.min / 1000).toFixed(2)}-${(r.window.max / 1000).toFixed(2)} s) |`);
  lines.push('');
  return lines;
}

export function rolloutLoadMarkdown(rows: readonly RolloutLoadRow[]): string[] {
  if (rows.length === 0) return [];
  const lines = [`## Health-gated rollout under load: ${rows[0]?.deploys ?? 0} deploys to ${TARGETS} hosts (PHP behind nginx), a canary then batches, each checked`, ''];
  lines.push('| opcache | requests | not 2xx | page and include disagree | a release not live during the request | canary switch to last check (median, min-max) |', '| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) lines.push(`| ${r.opcache} | ${r.requests} | ${r.non2xx} | ${r.mixed} | ${r.stale} | ${(r.canaryToLastCheck.median / 1000).toFixed(2)} s (${(r.canaryToLastCheck.min / 1000).toFixed(2)}-${(r.canaryToLastCheck.max / 1000).toFixed(2)} s) |`);
  lines.push('');
  return lines;
}
