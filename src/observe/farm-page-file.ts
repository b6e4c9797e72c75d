import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../base/config.js';
import { errorMessage } from '../base/errors.js';
import type { Logger } from '../base/log.js';
import { Journal, readRecentHistory, writeAtomically } from '../engine/journal.js';
import { renderFarmPage } from './farm-page.js';
import { configSecrets, stageView, withoutSecrets, type FarmPageView } from './farm-view.js';
import { utcTime } from './html.js';
import { readStatus } from './status-facts.js';

/** The history read back for the page: far more than the deploys it lists, at a cost that does not grow with the history. */
const RECENT_BYTES = 1024 * 1024;

/**
 * The page's view, read as `fanout status` reads the farm: the journal, watch's state, the
 * repository, the deploy lock. With stages, every stage, in the config's order, whichever one
 * deployed: one page for the update server.
 */
export async function readFarmPageView(config: Config, now: Date): Promise<FarmPageView> {
  const all = [config, ...config.otherStages].sort((a, b) => config.stageNames.indexOf(a.stage ?? '') - config.stageNames.indexOf(b.stage ?? ''));
  const stages = [];
  for (const farm of all) {
    const journal = Journal.open(farm.stateDir);
    const history = readRecentHistory(farm.stateDir, RECENT_BYTES);
    const facts = await readStatus(farm, journal.state, history, [], utcTime);
    stages.push(stageView({ name: farm.stage ?? farm.metrics.farm, branch: farm.branch, targets: farm.targets, facts, history }));
  }
  return withoutSecrets({ generatedAt: now.toISOString(), stages }, all.flatMap(configSecrets));
}

/**
 * Rewrite `<page.dir>/index.html`, if a page is configured: atomically (a browser or the web
 * server never reads half a page), readable by others (the web server runs as its own user), its
 * directory made if missing. A failure to write it is a warning: the deploy it follows has
 * happened either way.
 */
export async function exportFarmPage(config: Config, log: Logger, now = new Date()): Promise<string | undefined> {
  const dir = config.page.dir;
  if (dir === undefined) return undefined;
  const file = path.join(dir, 'index.html');
  try {
    const page = renderFarmPage(await readFarmPageView(config, now));
    // the web server reads it as another user: the directory is made searchable by others
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeAtomically(file, page, { mode: 0o644, makeDirectory: false });
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const fix = code === 'EACCES' || code === 'EPERM' ? `; make ${dir} writable by the user fanout runs as` : '';
    const why = `page.dir: cannot write ${file} (${errorMessage(error)})${fix}`;
    log.warn(why);
    return why;
  }
}
