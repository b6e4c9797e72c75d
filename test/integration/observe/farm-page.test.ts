import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { launchChromium } from '../../../harness/browser.js';
import { createFarm, type Farm } from '../../../harness/farm.js';
import type { HistoryEntry } from '../../../src/engine/journal.js';

// The farm page as a person sees it: real pushes to real daemons with slots, one host down, then
// the page opened from disk in Debian's chromium with JavaScript off. What it shows for every
// host and the last deploys must be what `fanout status --json` and `fanout history --json` say.
// FANOUT_PAGE_SCREENSHOT=docs/farm-page.png also writes the README's screenshot there.

interface StatusTarget {
  name: string;
  health: string;
  commit: string | null;
  subject: string | null;
  error?: string;
  live?: string | null;
  slots?: { slot: string; commit: string | null; state: string }[];
}

let browser: Browser;
let farm: Farm;
let pageDir: string;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
});

beforeEach(async () => {
  farm = await createFarm({ targets: 2, firstHost: 40 });
  // a directory that does not exist yet, two levels down: the first deploy makes it
  pageDir = path.join(farm.root, 'www-status', 'fanout');
  // the check fails while a file says so
  const check = path.join(farm.root, 'check.sh');
  fs.writeFileSync(check, `#!/bin/sh\n[ -e ${farm.root}/broken ] && { echo "the about page answers 500" >&2; exit 1; }\nexit 0\n`, { mode: 0o755 });
  farm.writeConfig({ layout: 'slots', slotGrace: 0, switch: 'available', page: { dir: pageDir }, checks: { command: [check], retries: 0 }, rollout: { canary: 1 } });
});

afterEach(async () => {
  await farm.cleanup();
});

async function push(files: Record<string, string>, subject: string, message: string): Promise<void> {
  farm.write(files);
  await farm.commit(subject);
  await farm.push(['-o', `message=${message}`, 'origin', 'HEAD:main']);
}

async function json<T>(args: string[]): Promise<T> {
  const ran = await farm.fanout([...args, '--json']);
  return JSON.parse(ran.stdout) as T;
}

/** What history's reader calls a deploy's outcome. */
function outcomeOf(e: HistoryEntry): string {
  if (e.refused !== undefined) return 'refused';
  const failed = e.targets.filter((t) => t.status === 'failed').length;
  if (e.error !== undefined || e.rollout?.stopped !== undefined || (failed > 0 && failed === e.targets.length)) return 'failed';
  return failed > 0 ? 'partial' : 'ok';
}

async function openPage(): Promise<Page> {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(pathToFileURL(path.join(pageDir, 'index.html')).href);
  return page;
}

async function text(locator: Locator): Promise<string> {
  return (await locator.innerText()).trim();
}

/** The hosts table as the browser shows it, in its order. */
async function shownHosts(page: Page): Promise<StatusTarget[]> {
  const rows = page.locator('table.hosts tbody tr');
  const hosts: StatusTarget[] = [];
  for (const row of await rows.all()) {
    expect(await row.isVisible()).toBe(true);
    const slots = [];
    for (const li of await row.locator('li[data-slot]').all()) {
      slots.push({ slot: (await li.getAttribute('data-slot')) ?? '', commit: (await li.getAttribute('data-commit')) || null, state: (await li.getAttribute('data-slot-state')) ?? '', live: (await li.getAttribute('data-live')) === 'true', text: await text(li) });
    }
    const error = await text(row.locator('[data-field="error"]'));
    hosts.push({
      name: await text(row.locator('th')),
      health: await text(row.locator('[data-field="state"]')),
      commit: (await row.getAttribute('data-commit')) || null,
      subject: (await row.locator('[data-field="serves"] .subject').count()) === 0 ? null : await text(row.locator('[data-field="serves"] .subject')),
      ...(error === '' ? {} : { error }),
      live: slots.find((s) => s.live)?.slot ?? null,
      slots: slots.map(({ slot, commit, state, text: shown }) => {
        // what the cell says of a slot: its commit's first ten characters, or that it is empty
        expect(shown, slot).toContain(commit === null ? 'empty' : commit.slice(0, 10));
        return { slot, commit, state };
      }),
    });
  }
  return hosts;
}

describe('the farm page in a browser', () => {
  it('shows each host, its slots and the last deploys as status --json and history --json say, failed hosts first, with JavaScript off', async () => {
    await push({ 'index.html': 'v1', 'css/site.css': 'body{}' }, 'first release', 'launch');
    await push({ 'index.html': 'v2' }, 'Footer: the year, not <b>2025</b> & "quotes"', "<script>alert(1)</script> the footer's date");
    const web2 = farm.daemons[1];
    if (web2 === undefined) throw new Error('no web2');
    await web2.stop();
    // web2 is down (switch: available goes on without it) and the release fails its check on the canary
    fs.writeFileSync(path.join(farm.root, 'broken'), '');
    await push({ 'index.html': 'v3', 'about.html': 'about us' }, 'About page', 'an about page, at last');

    const status = await json<{ ok: boolean; targets: StatusTarget[] }>(['status']);
    const history = await json<{ deploys: HistoryEntry[] }>(['history']);
    expect(status.ok).toBe(false);
    expect(status.targets.map((t) => t.health).sort()).toEqual(['failed', 'ok']);

    const page = await openPage();
    // failed hosts first, each as status says: state, commit, subject, reason, slots and what they hold
    const expected = [...status.targets].sort((a, b) => (a.health === 'failed' ? 0 : 1) - (b.health === 'failed' ? 0 : 1));
    expect(await shownHosts(page)).toEqual(expected.map((t) => ({ name: t.name, health: t.health, commit: t.commit, subject: t.subject, ...(t.error === undefined ? {} : { error: t.error }), live: t.live ?? null, slots: t.slots?.map((s) => ({ slot: s.slot, commit: s.commit, state: s.state })) })));
    expect(await text(page.locator('tr[data-host="web2"] [data-field="error"]'))).toMatch(/\S/);
    expect(await text(page.locator('tr[data-host="web2"] [data-field="state"]'))).toBe('failed');

    // the deploys, newest first, as history says: who, why, how long, each host's outcome
    const rows = await page.locator('table.deploys tbody tr').all();
    expect(rows).toHaveLength(history.deploys.length);
    for (const [i, e] of history.deploys.entries()) {
      const row = rows[i];
      if (row === undefined) throw new Error(`no row ${i}`);
      expect(await row.getAttribute('data-deploy')).toBe(String(e.id));
      expect(await row.getAttribute('data-commit')).toBe(e.commit);
      expect(await text(row.locator('[data-field="reason"]'))).toBe(e.reason);
      expect(await text(row.locator('[data-field="outcome"]'))).toBe(outcomeOf(e));
      expect(await text(row.locator('[data-field="by"]'))).toContain(e.user ?? e.startedBy);
      expect(await row.locator('[data-field="message"]').textContent()).toBe(e.message ?? '');
      expect(await text(row.locator('[data-field="commit"] .subject'))).toBe(e.subject);
      expect(Number(await row.locator('[data-field="took"]').getAttribute('data-ms'))).toBe(Date.parse(e.finishedAt) - Date.parse(e.startedAt));
      const targets = await row.locator('li[data-target]').all();
      expect(await Promise.all(targets.map(async (t) => `${(await t.getAttribute('data-target')) ?? ''} ${(await t.getAttribute('data-status')) ?? ''}`))).toEqual(e.targets.map((t) => `${t.name} ${t.status}`));
      for (const t of e.targets.filter((o) => o.error !== undefined)) expect(await text(row.locator(`li[data-target="${t.name}"] .why`))).toBe(t.error);
      // the rollout's waves, each check's answer
      expect(await row.locator('li[data-wave]').count()).toBe(e.rollout?.waves.length ?? 0);
      expect(await row.locator('li[data-check]').count()).toBe(e.rollout?.checks.length ?? 0);
    }
    // the canary failed its check and went back, automatically; web2, down, was left out of the waves
    expect(history.deploys.map((e) => e.reason)).toEqual(['auto-rollback', 'push', 'push', 'push']);
    expect(history.deploys[1]?.switch?.lagging).toEqual(['web2']);
    expect(await text(page.locator('.alert'))).toMatch(/^rolled back automatically: deploy #3 of [0-9a-f]{10} failed its check on web1 \(exit 1: the about page answers 500\)/);
    expect(await page.locator('[data-field="commit"] code').first().getAttribute('title')).toBe(history.deploys[0]?.commit);
    // a stranger's subject and message are text on the page, never markup
    const nasty = 'Footer: the year, not <b>2025</b> & "quotes"';
    expect(await page.locator('table.deploys .subject', { hasText: nasty }).count()).toBe(history.deploys.filter((e) => e.subject === nasty).length);
    expect(await page.locator('table.deploys [data-field="message"]', { hasText: "<script>alert(1)</script> the footer's date" }).count()).toBe(1);
    expect(await page.locator('script, b').count()).toBe(0);
    // the chart: a bar a deploy, each with its tooltip
    expect(await page.locator('svg[data-chart="durations"] g.bar').count()).toBe(history.deploys.length);
    expect(await page.locator('svg[data-chart="durations"] g.bar title').first().textContent()).toMatch(/^#\d+ push by .*: [\d.]+s, ok$/);

    const shot = path.join(farm.root, 'farm-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(fs.readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
    const wanted = process.env.FANOUT_PAGE_SCREENSHOT;
    if (wanted !== undefined && wanted !== '') fs.copyFileSync(shot, wanted);
    await page.context().close();

    // a file the web server (another user) reads, and nothing left beside it; no secret in it
    expect(fs.statSync(path.join(pageDir, 'index.html')).mode & 0o777).toBe(0o644);
    expect(fs.readdirSync(pageDir)).toEqual(['index.html']);
    expect((await farm.fanout(['doctor'])).stdout).toMatch(/ok +farm page +.*fanout\/index\.html, rewritten after every deploy/);
    const html = fs.readFileSync(path.join(pageDir, 'index.html'), 'utf8');
    for (const d of farm.daemons) {
      expect(html).not.toContain(d.passwordFile);
      expect(html).not.toContain(fs.readFileSync(d.passwordFile, 'utf8').trim());
      expect(html).not.toContain(`${d.user}@`);
    }
  });

  it('a page that cannot be written is a warning: the deploy itself succeeds', async () => {
    const blocker = path.join(farm.root, 'not-a-directory');
    fs.writeFileSync(blocker, '');
    farm.writeConfig({ page: { dir: path.join(blocker, 'fanout') } });
    farm.write({ 'index.html': 'v1' });
    await farm.commit('v1');
    const pushed = await farm.push();
    expect(pushed.stderr).toMatch(/remote: warning: page\.dir: cannot write .*not-a-directory\/fanout\/index\.html/);
    expect(pushed.stderr).toMatch(/remote: +web1 +ok/);
    expect((await farm.fanout(['status'])).exitCode).toBe(0);
    expect((await farm.fanout(['doctor'])).stdout).toMatch(/problem +farm page +.*not-a-directory is not a directory; fix: point page\.dir at a directory/);
  });
});
