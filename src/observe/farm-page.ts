import { shortCommit } from '../engine/report.js';
import { humanDuration } from '../engine/units.js';
import { durationChart, OUTCOME_COLOURS } from './farm-chart.js';
import type { DeployView, FarmPageView, HostView, LockView, StageView } from './farm-view.js';
import { escapeHtml as esc, timeElement, utcTime } from './html.js';

/**
 * The farm page (pure): one HTML file that a browser shows as it is, from disk or behind the web
 * server, with JavaScript off. No script, no font, no style sheet or image from anywhere: the
 * style is inline and its fonts the system's, the chart inline SVG, and the Content-Security-Policy
 * forbids every load, so a subject that slipped through as markup still could not run or fetch.
 * Tables have headers; each host, slot and deploy carries data- attributes a test reads.
 */
export function renderFarmPage(view: FarmPageView): string {
  const names = view.stages.map((s) => s.name).join(', ');
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="referrer" content="no-referrer">',
    `<title>fanout: ${esc(names)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<header><h1>fanout · <span class="farm">${esc(names)}</span></h1><p class="generated">Written <span data-generated>${timeElement(view.generatedAt)}</span>, after the last deploy; this page does not update itself.</p></header>`,
    '<main>',
    ...view.stages.map(stageSection),
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function stageSection(stage: StageView): string {
  return [
    `<section class="stage" data-stage="${esc(stage.name)}" data-ok="${stage.ok}">`,
    `<h2>${esc(stage.name)} <span class="badge ${stage.ok ? 'ok' : 'failed'}">${stage.ok ? 'all well' : 'needs attention'}</span></h2>`,
    stage.lock === undefined ? '' : lockBanner(stage.lock),
    overview(stage),
    '<h3>Hosts</h3>',
    hostsTable(stage.hosts),
    '<h3>Deploy durations</h3>',
    durationChart(stage.deploys),
    '<h3>Last deploys</h3>',
    deploysTable(stage.deploys),
    '</section>',
  ]
    .filter((part) => part !== '')
    .join('\n');
}

function lockBanner(lock: LockView): string {
  return `<div class="lock" role="alert" data-lock data-lock-by="${esc(lock.by)}"><strong>Deploys are frozen</strong> by ${esc(lock.by)} since ${timeElement(lock.since)}: ${esc(lock.reason)}</div>`;
}

function commitCode(commit: string | null, subject: string | null): string {
  if (commit === null) return '<span class="none">nothing recorded</span>';
  return `<code title="${esc(commit)}">${esc(shortCommit(commit))}</code>${subject === null ? '' : ` <span class="subject">${esc(subject)}</span>`}`;
}

/** The current deploy, the branch tip against it, and what status prints above its table. */
function overview(stage: StageView): string {
  const rows: [string, string][] = [];
  const { current, tip } = stage;
  if (current === null) rows.push(['Serving', 'nothing yet (git push, or fanout deploy)']);
  else {
    const who = current.startedBy === undefined ? '' : `, ${esc(current.user ?? current.startedBy)}`;
    rows.push(['Serving', `${commitCode(current.commit, current.subject)} <span class="muted">(deploy #${current.deployId}${who}, ${timeElement(current.at)})</span>`]);
    if (current.message !== undefined) rows.push(['Message', `<q>${esc(current.message)}</q>`]);
    if (current.builtFrom !== undefined) rows.push(['Built from', commitCode(current.builtFrom, null)]);
  }
  if (tip !== null) rows.push([`Branch ${esc(stage.branch ?? '')}`, `${commitCode(tip.commit, tip.subject)} ${tip.deployed ? '<span class="ok">deployed</span>' : `<span class="failed">not deployed</span>: ${esc(tip.problem ?? '')}`}`]);
  if (stage.watch !== undefined) rows.push(['Watch', `<span class="${stage.watch.failing ? 'failed' : 'muted'}">${esc(stage.watch.line)}</span>`]);
  const alerts = stage.alerts.map((a) => `<p class="alert" role="alert">${esc(a)}</p>`);
  return [`<dl class="overview">${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`, ...alerts].join('\n');
}

const HEALTH_ORDER: Readonly<Record<HostView['state'], number>> = { failed: 0, lagging: 1, unknown: 2, behind: 3, ok: 4 };

/** Failed hosts first, then those the farm switched without, those of unknown state, those behind, and the rest; in the config's order within each. */
function hostsTable(hosts: readonly HostView[]): string {
  const ordered = [...hosts].sort((a, b) => HEALTH_ORDER[a.state] - HEALTH_ORDER[b.state]);
  const anySlots = hosts.some((h) => h.slots !== undefined);
  const head = ['Host', 'State', 'Serves', 'Since', ...(anySlots ? ['Slots'] : []), 'Why', 'Destination'].map((h) => `<th scope="col">${h}</th>`).join('');
  const rows = ordered.map((h) =>
    [
      `<tr data-host="${esc(h.name)}" data-state="${h.state}" data-commit="${esc(h.commit ?? '')}">`,
      `<th scope="row">${esc(h.name)}</th>`,
      `<td data-field="state"><span class="state ${h.state}">${h.state}</span></td>`,
      `<td data-field="serves">${commitCode(h.commit, h.subject)}</td>`,
      `<td data-field="since">${timeElement(h.since)}</td>`,
      anySlots ? `<td data-field="slots">${slotsList(h)}</td>` : '',
      `<td data-field="error" class="why">${h.error === undefined ? '' : esc(h.error)}</td>`,
      `<td data-field="dest"><code>${esc(h.dest)}</code></td>`,
      '</tr>',
    ].join(''),
  );
  return `<table class="hosts"><thead><tr>${head}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

function slotsList(h: HostView): string {
  if (h.slots === undefined) return '<span class="muted">in place</span>';
  if (h.slots.length === 0) return '<span class="muted">none written yet</span>';
  const items = h.slots.map((s) => {
    const what = s.state === 'complete' ? (s.commit === null ? '<span class="none">empty</span>' : commitCode(s.commit, s.subject)) : `<span class="failed">${s.state}</span>${s.commit === null ? '' : ` (had ${commitCode(s.commit, null)})`}`;
    return `<li data-slot="${esc(s.slot)}" data-live="${s.live}" data-slot-state="${s.state}" data-commit="${esc(s.commit ?? '')}">slot ${esc(s.slot)}${s.live ? ' <strong class="live">live</strong>' : ''}: ${what}</li>`;
  });
  return `<ul class="slots">${items.join('')}</ul>`;
}

function deploysTable(deploys: readonly DeployView[]): string {
  if (deploys.length === 0) return '<p class="empty">No deploys yet.</p>';
  const head = ['#', 'Started', 'Took', 'Reason', 'By', 'Commit', 'Message', 'Outcome', 'Hosts, rollout and switch'].map((h) => `<th scope="col">${h}</th>`).join('');
  return `<table class="deploys"><thead><tr>${head}</tr></thead><tbody>\n${deploys.map(deployRow).join('\n')}\n</tbody></table>`;
}

function deployRow(d: DeployView): string {
  const by = d.user === undefined || d.user === d.startedBy ? esc(d.startedBy) : `${esc(d.user)}<br><small class="muted">${esc(d.startedBy)}</small>`;
  const outcome = `${d.outcome}${d.dryRun ? ' (dry run)' : ''}`;
  return [
    `<tr data-deploy="${d.id}" data-outcome="${d.outcome}" data-reason="${d.reason}" data-commit="${esc(d.commit)}">`,
    `<th scope="row">${d.id}</th>`,
    `<td data-field="started">${timeElement(d.startedAt)}</td>`,
    `<td data-field="took" data-ms="${d.durationMs}">${humanDuration(d.durationMs)}</td>`,
    `<td data-field="reason">${d.reason}</td>`,
    `<td data-field="by">${by}</td>`,
    `<td data-field="commit">${commitCode(d.commit, d.subject)}${d.builtFrom === undefined ? '' : ` <span class="muted">build of ${commitCode(d.builtFrom, null)}</span>`}</td>`,
    `<td data-field="message">${d.message === undefined ? '' : `<q>${esc(d.message)}</q>`}</td>`,
    `<td data-field="outcome"><span class="outcome" style="background:${OUTCOME_COLOURS[d.outcome]}">${outcome}</span></td>`,
    `<td data-field="detail">${deployDetail(d)}</td>`,
    '</tr>',
  ].join('');
}

/** Why a deploy went wrong, then each host's part, the rollout's waves and checks, the switch. */
function deployDetail(d: DeployView): string {
  const parts: string[] = [];
  if (d.refused !== undefined) parts.push(`<p class="why">refused: ${esc(d.refused)}</p>`);
  if (d.error !== undefined) parts.push(`<p class="why">failed before any host: ${esc(d.error)}</p>`);
  if (d.targets.length > 0) {
    const items = d.targets.map(
      (t) =>
        `<li data-target="${esc(t.name)}" data-status="${t.status}">${esc(t.name)} <span class="state ${t.status === 'ok' ? 'ok' : 'failed'}">${t.status}</span> ${humanDuration(t.durationMs)}${t.slot === undefined ? '' : `, slot ${esc(t.slot)}${t.switched ? ' (switched)' : ''}`}${t.error === undefined ? '' : `: <span class="why">${esc(t.error)}</span>`}</li>`,
    );
    parts.push(`<ul class="targets">${items.join('')}</ul>`);
  }
  if (d.rollout !== undefined) parts.push(rolloutDetail(d.rollout));
  if (d.switch !== undefined) {
    const held = d.switch.held.length === 0 ? '' : `; held back: ${esc(d.switch.held.join(', '))}`;
    const lagging = d.switch.lagging ?? [];
    const lag = lagging.length === 0 ? '' : `; <span class="state lagging" data-lagging="${esc(lagging.join(' '))}">lagging</span> (not switched, serving their old release): ${esc(lagging.join(', '))}`;
    parts.push(`<p data-switch-skew-ms="${d.switch.skewMs}">switched ${d.switch.switched} within ${d.switch.skewMs} ms (skew), from ${esc(utcTime(d.switch.at))}${held}${lag}</p>`);
  }
  return parts.join('');
}

function rolloutDetail(rollout: NonNullable<DeployView['rollout']>): string {
  const waves = rollout.waves.map((wave, i) => {
    const checks = rollout.checks
      .filter((c) => c.wave === i)
      .map((c) => `<li data-check="${esc(c.target)}" data-ok="${c.ok}">check ${esc(c.target)}: <span class="state ${c.ok ? 'ok' : 'failed'}">${c.ok ? 'ok' : 'failed'}</span> (${esc(c.detail)}; ${c.attempts} ${c.attempts === 1 ? 'try' : 'tries'}, ${humanDuration(c.durationMs)})</li>`);
    return `<li data-wave="${i + 1}">wave ${i + 1}: ${esc(wave.join(', '))}${checks.length === 0 ? '' : `<ul>${checks.join('')}</ul>`}</li>`;
  });
  const stopped = rollout.stopped === undefined ? '' : `<p class="why">stopped in wave ${rollout.stopped.wave + 1} at ${esc(rollout.stopped.target)}: ${esc(rollout.stopped.detail)}</p>`;
  return `<ol class="waves">${waves.join('')}</ol>${stopped}`;
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f23;--bg:#fff;--muted:#5f6b76;--line:#d8dee4;--head:#f3f5f7;--ok:#2e7d32;--warn:#b26a00;--bad:#c62828}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8ea;--bg:#14171a;--muted:#9aa5b1;--line:#39414a;--head:#1f2429;--ok:#66bb6a;--warn:#ffb74d;--bad:#ef5350}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1200px;padding:1rem 1.5rem 3rem;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.25rem;margin:1.5rem 0 .5rem}h3{font-size:1.05rem;margin:1.4rem 0 .4rem}
time,td[data-field=by] small{white-space:nowrap}
code{font:12.5px/1.3 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
.generated,.muted,.none{color:var(--muted)}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
thead th{background:var(--head);font-weight:600;white-space:nowrap}
tbody th{white-space:nowrap}
.why{white-space:pre-line;overflow-wrap:anywhere}
.state,.badge{font-weight:600}
.ok,.state.ok{color:var(--ok)}.state.behind,.state.unknown,.state.lagging{color:var(--warn)}.failed,.state.failed{color:var(--bad)}
.badge{font-size:.8rem;padding:.1rem .5rem;border-radius:1rem;border:1px solid currentColor;vertical-align:middle}
tr[data-state=failed]{background:color-mix(in srgb,var(--bad) 8%,transparent)}
tr[data-state=lagging]{background:color-mix(in srgb,var(--warn) 8%,transparent)}
.lock,.alert{border-left:4px solid var(--bad);background:color-mix(in srgb,var(--bad) 10%,transparent);padding:.6rem .8rem;margin:.6rem 0}
.lock{font-size:1.1rem}
dl.overview{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:.5rem 0}
dl.overview dt{font-weight:600}dl.overview dd{margin:0}
ul,ol{margin:0;padding-left:1.1rem}
.slots li strong.live{color:var(--ok)}
.outcome{color:#fff;padding:0 .4rem;border-radius:.25rem;font-weight:600}
.chart{margin:0}.chart svg{width:100%;max-width:760px;height:auto;display:block}
.chart .axis{font:11px system-ui,sans-serif;fill:var(--muted)}.chart .grid{stroke:var(--line)}
.chart figcaption{color:var(--muted);font-size:.85rem}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;vertical-align:-1px}
q{font-style:italic}
`.trim();
