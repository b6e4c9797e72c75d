/** The big-change scenario: the hook's memory for one push adding many files to a deployed site. */
import { MAX_CHANGES } from '../src/deploy/deploy-plan.js';
import { createFarm, type Farm } from '../harness/farm.js';
import { assertEqual, measuredPush, pushAll } from './lab/common.js';
import type { MemoryRow } from './lab/report.js';
import { generateSite } from './lab/site.js';

/**
 * The memory of the hook for one push that adds `files` files to a deployed site: named path by
 * path up to MAX_CHANGES, past it git's own two-tree switch and a full pass per target.
 */
export async function bigChangeScenario(files: number, say: (line: string) => void): Promise<MemoryRow> {
  const farm: Farm = await createFarm({ targets: 3, firstHost: 160, config: { timeout: 600 } });
  try {
    farm.write({ 'index.html': 'home' });
    await farm.commit('home');
    await pushAll(farm, 3);
    say(`[big change, ${files} files] generating`);
    generateSite(farm.clone, files);
    await farm.commit('a big change');
    say(`[big change, ${files} files] pushing`);
    const push = await measuredPush(farm);
    for (const d of farm.daemons) await assertEqual(farm.source, d.dir);
    const how = files > MAX_CHANGES ? `more than ${MAX_CHANGES}: git's own switch, then a full pass per target` : 'named path by path';
    say(`[big change, ${files} files] ${(push.ms / 1000).toFixed(1)} s, hook peak ${push.peakMb?.toFixed(0) ?? '?'} MB`);
    return { files, what: `git push adding ${files} files to a deployed site (${how})`, ms: push.ms, peakMb: push.peakMb };
  } finally {
    await farm.cleanup();
  }
}

