import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { headings, REPO } from '../../scripts/docs/markdown.js';

// Nothing a reader could find in the README of one page (before issue 28) is lost: each of its
// sections, and each part of one that went elsewhere, has a place in README.md or docs/, and a
// sentence of it is still there. A checklist for who ports an edit made to the old README, too.

/** The old README's heading (or part of a section), where it is now (`file#anchor`), and words of it found there. */
const MOVED: readonly [string, string, string][] = [
  ['# fanout', 'README.md', '`git push` to an update server, and every web host behind your load balancer'],
  ['## Two commands', 'README.md#two-commands', 'scripts/setup && npm test'],
  ['## Two commands: what scripts/setup installs', 'docs/development.md#what-the-two-commands-do', '`scripts/setup` installs rsync, git, inotify-tools, util-linux (flock)'],
  ['## Two commands: the demo', 'docs/getting-started.md#try-it-on-one-machine', 'The demo starts two real rsync daemons on 127.0.0.2 and 127.0.0.3'],
  ['## Two commands: what the tests start', 'docs/development.md#what-the-two-commands-do', 'The tests start their own rsync daemons on loopback addresses'],
  ['## Quick start on a real farm', 'docs/getting-started.md#quick-start-on-a-real-farm', 'The set-up this was built for: an update server'],
  ['## Who pushed, and why', 'docs/guides/identity.md', 'Every deploy records the person behind it'],
  ['## Stages: staging and production from one update server', 'docs/guides/stages-and-locks.md#stages-staging-and-production-from-one-update-server', 'One repository, several farms'],
  ['## Push modes: when the push itself fails', 'docs/guides/push-modes.md', '`push:` in the config says which git hook deploys a push'],
  ['## Commands (global options)', 'docs/reference/commands.md#global-options', '`--stage NAME`'],
  ['## Commands (the options of deploy, rollback and sync)', 'docs/reference/commands.md#options-of-the-commands-that-deploy', '`--allow-empty` (deploy even an empty tree, which empties every target)'],
  ['## Commands (counts)', 'docs/reference/commands.md#counts-and-exit-codes', 'Counts: a target\'s line says `N sent` (files and symlinks)'],
  ['## Commands (exit codes)', 'docs/reference/exit-codes.md', '| `2` | bad usage, bad config or bad input'],
  ['### `fanout init [--repo R --source S --branch B]`', 'docs/reference/commands.md#fanout-init---repo-r---source-s---branch-b', 'Creates the bare repository if missing'],
  ['### `fanout hook post-receive`, `fanout hook pre-receive`', 'docs/reference/commands.md#fanout-hook-post-receive-fanout-hook-pre-receive', 'What the installed hooks run'],
  ['### `fanout deploy [REV] [--full] [--target NAME] [--dry-run]`', 'docs/reference/commands.md#fanout-deploy-rev---full---target-name---dry-run', 'Deploys REV (a sha, short sha, tag, `main~3`'],
  ['### `fanout rollback [REV] [--dry-run]`', 'docs/reference/commands.md#fanout-rollback-rev---dry-run', 'Without REV: deploys the commit that was deployed before the current one'],
  ['### `fanout promote FROM TO [--dry-run]`', 'docs/reference/commands.md#fanout-promote-from-to---dry-run', 'Deploys to stage TO what stage FROM serves'],
  ['### `fanout lock -m "why"`', 'docs/reference/commands.md#fanout-lock--m-why', 'Takes the deploy lock: during an incident or a freeze nobody deploys by accident'],
  ['### `fanout unlock`', 'docs/reference/commands.md#fanout-unlock', 'Lifts the deploy lock, saying whose it was'],
  ['### `fanout status [--json] [--prometheus]`', 'docs/reference/commands.md#fanout-status---json---prometheus', 'One row per target: the commit it has'],
  ['### `fanout history [ID] [--limit N] [--json]`', 'docs/reference/commands.md#fanout-history-id---limit-n---json', 'Past deploys, newest first (default 20)'],
  ['### `fanout log [--follow] [--deploy N] [--level LEVEL] [--json]`', 'docs/reference/commands.md#fanout-log---follow---deploy-n---level-level---json', 'as a person reads it'],
  ['### `fanout sync [--target NAME] [--full] [--dry-run]`', 'docs/reference/commands.md#fanout-sync---target-name---full---dry-run', 'Brings the chosen targets (default: every target that is not `ok`)'],
  ['### `fanout verify [--target NAME] [--all-slots] [--json]`', 'docs/reference/commands.md#fanout-verify---target-name---all-slots---json', 'Compares every target with the source without changing anything'],
  ['### `fanout watch [--target NAME]`', 'docs/reference/commands.md#fanout-watch---target-name', 'Live mode for edits made directly in the source directory'],
  ['### `fanout watch`: Watch or push?', 'docs/guides/watch.md#watch-or-push', 'Push is the way to deploy: it is versioned, reviewed, and can be rolled back.'],
  ['### `fanout doctor [--target NAME]`', 'docs/reference/commands.md#fanout-doctor---target-name', 'Checks, one line each with `ok` or `problem` and what to do'],
  ['### `fanout completion`', 'docs/reference/commands.md#fanout-completion', 'Prints a completion script for bash'],
  ['### `fanout help [COMMAND]`', 'docs/reference/commands.md#fanout-help-command', 'as text for a terminal'],
  ['### Dry runs and output', 'docs/reference/commands.md#dry-runs-and-output', 'shows per target what would be sent and deleted'],
  ['### Progress', 'docs/reference/commands.md#progress', 'say where they are while they run, on stderr'],
  ['## Config reference', 'docs/reference/config.md', 'YAML, validated strictly'],
  ['## Config reference (each target)', 'docs/reference/config.md#each-target-targets', '| `targets[].passwordFile` | rsync daemon password file'],
  ['## How it works', 'docs/how-it-works.md#the-data-flow', 'The source costs what the change costs too.'],
  ['## Atomic releases', 'docs/guides/atomic-releases.md', 'A visitor should see one version of the site'],
  ['### Web server settings', 'docs/guides/atomic-releases.md#web-server-settings', 'The switch is atomic for the files'],
  ['### When something fails between the phases', 'docs/guides/atomic-releases.md#when-something-fails-between-the-phases', '| a target fails to stage (down, disk full, ...) |'],
  ['### Moving an in-place farm to slots', 'docs/guides/moving-to-slots.md', 'The site stays served throughout'],
  ['## Health-gated rollout', 'docs/guides/rollout.md', 'A release that reaches every host is not yet a release that works.'],
  ['## Many hosts: zones and relays', 'docs/guides/many-hosts.md', 'Every byte a direct deploy sends leaves the update server once per target'],
  ['## Builds', 'docs/guides/builds.md', 'Most sites are built before they are served'],
  ['## Monitoring', 'docs/guides/monitoring.md', "fanout rewrites a file for node_exporter's textfile collector"],
  ['## Monitoring (the metrics)', 'docs/reference/metrics.md', '| `fanout_target_up_to_date` | `target` | 1 when it holds the current deploy completely, else 0 |'],
  ['### Logs', 'docs/guides/monitoring.md#logs', 'Every command appends JSON lines'],
  ['## Farm page', 'docs/guides/farm-page.md', 'fanout writes a static HTML page of the farm'],
  ['## Security model', 'docs/operations/security.md', 'fanout runs on the update server as the user that receives pushes'],
  ['## Failure modes', 'docs/operations/failure-modes.md', 'Every row is an integration test against real git'],
  ['## Development', 'docs/development.md', 'The libraries (execa, yargs, pino, valibot, yaml, p-map, leven) are bundled'],
  ['### Layout', 'docs/development.md#layout', '`src/` follows a push through its life, one folder a stage'],
  ['## Benchmark', 'docs/benchmark.md', '`npm run bench` measures fanout against the alternatives'],
  ['### Latest results', 'docs/benchmark.md#latest-results', 'Full tables: [bench-results/latest.md]'],
];

const fold = (text: string): string => text.replace(/\s+/g, ' ');

/** The text of `file` under `anchor`, up to the next heading of its level or above; the whole file without one. */
function sectionText(file: string, anchor: string | undefined): string | undefined {
  const text = fs.readFileSync(path.join(REPO, file), 'utf8');
  if (anchor === undefined) return text;
  const all = headings(text);
  const at = all.findIndex((h) => h.anchor === anchor);
  const heading = all[at];
  if (heading === undefined) return undefined;
  const next = all.slice(at + 1).find((h) => h.level <= heading.level);
  return text.split('\n').slice(heading.line - 1, next === undefined ? undefined : next.line - 1).join('\n');
}

describe("the README's sections, each in its new place", () => {
  it.each(MOVED)('%s is in %s', (_old, place, words) => {
    const [file = '', anchor] = place.split('#', 2);
    expect(fs.existsSync(path.join(REPO, file)), file).toBe(true);
    const section = sectionText(file, anchor);
    expect(section, `${file} has no heading making #${anchor ?? ''}`).toBeDefined();
    expect(fold(section ?? '')).toContain(fold(words));
  });
});
