import { describe, expect, it } from 'vitest';
import { fitInputs, JOURNAL_WRITES, modelRow, peerToPeerFromBytes, rewriteMsAt } from '../../../../bench/lab/scale-model.js';

const journalRewrites = [
  { targets: 100, rewriteMs: 1 },
  { targets: 1000, rewriteMs: 2 },
];
const inputs = {
  fixedMs: 1000,
  perHostCpuMs: 20,
  perHostCpuTieredMs: 10,
  journalRewrites,
  cores: 2,
  perHostBytes: 10_000,
  perHostTieredBytes: 1000,
  uplinkBytesPerSecond: 100_000_000,
  perRelay: 50,
};

describe('the scale model', () => {
  it('reads a journal rewrite between the sizes measured on their line, past them the nearest', () => {
    expect(rewriteMsAt(journalRewrites, 550)).toBeCloseTo(1.5);
    expect(rewriteMsAt(journalRewrites, 10)).toBe(1);
    expect(rewriteMsAt(journalRewrites, 10_000)).toBe(2);
    expect(rewriteMsAt([], 10)).toBe(0);
  });

  it("fits the CPU per host to the two larger counts' slope, direct and through relays, the fixed cost from the smallest", () => {
    const fit = fitInputs(
      {
        smallest: { hosts: 10, ms: 1200, cpuMs: 1200, sentBytes: undefined },
        small: { hosts: 100, ms: 3000, cpuMs: 3000, sentBytes: 1_000_000 },
        large: { hosts: 1000, ms: 20_000, cpuMs: 21_000, sentBytes: 9_000_000 },
      },
      { small: { hosts: 100, ms: 5000, cpuMs: 4000, sentBytes: 100_000 }, large: { hosts: 1000, ms: 30_000, cpuMs: 31_000, sentBytes: 1_200_000 } },
      journalRewrites,
      { cores: 2, uplinkBytesPerSecond: 1e12, perRelay: 50 },
    );
    expect(fit.perHostCpuMs).toBe(20);
    expect(fit.perHostCpuTieredMs).toBe(30);
    expect(fit.perHostBytes).toBe(9000);
    expect(fit.perHostTieredBytes).toBe(1200);
    // 10 hosts: the CPU bound 10 x 20 / 2 = 100 ms, the journal's 4 rewrites of 1 ms
    expect(fit.fixedMs).toBe(1200 - 100 - JOURNAL_WRITES);
    // relays not measured: the direct figures stand in
    const direct = fitInputs({ smallest: { hosts: 10, ms: 1200, cpuMs: 1200, sentBytes: 1 }, small: { hosts: 100, ms: 3000, cpuMs: 3000, sentBytes: 1 }, large: { hosts: 1000, ms: 20_000, cpuMs: 21_000, sentBytes: 9_000_000 } }, undefined, journalRewrites, {
      cores: 2,
      uplinkBytesPerSecond: 1e12,
      perRelay: 50,
    });
    expect(direct.perHostCpuTieredMs).toBe(20);
    expect(direct.perHostTieredBytes).toBe(9000);
  });

  it('sends direct to every host, bound by CPU or uplink, after the journal', () => {
    const row = modelRow(inputs, 1000, 0);
    // the journal 4 x 2 ms; CPU 1,000 x 20 / 2 = 10 s
    expect(row.directMs).toBe(1000 + 8 + 10_000);
    expect(row.directEgress).toBe(1000 * 10_000);
    expect(row.relays).toBe(20);
    // the release to 20 relays (CPU 20 x 20 / 2 = 200 ms), then every host's pass started from the update server (1,000 x 10 / 2 = 5 s) while each relay sends to its 50 (500 ms)
    expect(row.tieredMs).toBe(1000 + 8 + 200 + 5000);
    expect(row.tieredEgress).toBe(20 * 10_000 + 1000 * 1000);
  });

  it('is bound by the uplink for a large payload, at the update server and at each relay', () => {
    const gb = 1_000_000_000;
    const row = modelRow(inputs, 10_000, gb);
    const seconds = (bytes: number): number => (bytes / 100_000_000) * 1000;
    expect(row.directMs).toBeCloseTo(1000 + 8 + seconds(10_000 * (gb + 10_000)));
    expect(row.tieredMs).toBeCloseTo(1000 + 8 + seconds(200 * (gb + 10_000)) + seconds(50 * (gb + 10_000)));
    // a zone never has more hosts than the farm: 10 hosts, one relay
    expect(modelRow(inputs, 10, 0).tieredMs).toBe(1000 + 4 + 10 + (10 * 20) / 2);
  });

  it('puts the peer-to-peer ground where the tiers spend longer on the payload than a peer-to-peer start costs', () => {
    // 10,000 hosts: 200 relays and 50 hosts a zone; the tiers send the payload 250 times, one payload's worth is the floor
    expect(peerToPeerFromBytes(inputs, 10_000, 30_000)).toBeCloseTo((30 * 100_000_000) / 249);
    expect(peerToPeerFromBytes(inputs, 1000, 30_000)).toBeCloseTo((30 * 100_000_000) / 69);
  });
});
