import { describe, expect, it } from 'vitest';
import { silentLogger as log } from '../../../src/base/log.js';
import { inLanes, relayRoutes, shareAmong, type LiveRelay } from '../../../src/engine/relay-routes.js';
import { relayWatch } from '../../../src/transport/relay-watch.js';

function relay(name: string, concurrency = 2): LiveRelay & { up: boolean } {
  const r = {
    up: true,
    hop: { relay: name, ssh: ['ssh', name], release: '/r/release', secrets: '/r/secrets', watch: relayWatch(['ssh', name], log) },
    alive: () => r.up,
    check: () => Promise.resolve(r.up),
    concurrency,
  };
  return r;
}

describe('relay routes', () => {
  it('share a zone\'s targets among its relays, each target trying the others after its own', () => {
    const shared = shareAmong(['web1', 'web2', 'web3'], ['r1', 'r2']);
    expect([...shared]).toEqual([
      ['web1', ['r1', 'r2']],
      ['web2', ['r2', 'r1']],
      ['web3', ['r1', 'r2']],
    ]);
    expect(shareAmong(['web1'], []).size).toBe(0);
  });

  it('send a target through its relay until that relay is lost, then through the zone\'s other, then directly; said once each', async () => {
    const [r1, r2] = [relay('r1'), relay('r2')];
    const said: string[] = [];
    const routes = relayRoutes(new Map([['web1', [r1, r2]], ['web2', [r2, r1]]]), 8, (line) => said.push(line));
    expect(routes.hopFor('web1')?.relay).toBe('r1');
    expect(routes.hopFor('web9')).toBeUndefined();
    // a failed pass through a relay that still answers: the target's own failure
    expect(await routes.relayLost(r1.hop)).toBe(false);
    r1.up = false;
    expect(await routes.relayLost(r1.hop)).toBe(true);
    expect(await routes.relayLost(r1.hop)).toBe(true);
    expect(routes.hopFor('web1')?.relay).toBe('r2');
    r2.up = false;
    expect(await routes.relayLost(r2.hop)).toBe(true);
    expect(routes.hopFor('web1')).toBeUndefined();
    expect(said).toEqual(['relay r1 was lost mid-deploy: the targets it had left are sent by the zone\'s other relay', 'relay r2 was lost mid-deploy: the targets it had left are sent directly']);
  });

  it('run each relay\'s targets in a lane of its own, at its concurrency, and the direct ones at the top level\'s; results in order', async () => {
    const r1 = relay('r1', 1);
    const routes = relayRoutes(new Map([['web1', [r1]], ['web2', [r1]]]), 2, () => undefined);
    const running = new Map<string, number>();
    const most = new Map<string, number>();
    const items = ['web1', 'web2', 'web3', 'web4', 'web5'].map((name) => ({ name }));
    const results = await inLanes(items, routes, 2, async ({ name }) => {
      const lane = routes.laneOf(name).name;
      running.set(lane, (running.get(lane) ?? 0) + 1);
      most.set(lane, Math.max(most.get(lane) ?? 0, running.get(lane) ?? 0));
      await new Promise((resolve) => setImmediate(resolve));
      running.set(lane, (running.get(lane) ?? 0) - 1);
      return name.toUpperCase();
    });
    expect(results).toEqual(['WEB1', 'WEB2', 'WEB3', 'WEB4', 'WEB5']);
    expect(most.get('r1')).toBe(1);
    expect(most.get('')).toBe(2);
  });
});
