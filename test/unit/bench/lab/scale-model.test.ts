import { describe, expect, it } from 'vitest';
import { fitInputs, modelRow, peerToPeerFromBytes, rewriteMsAt } from '../../../../bench/lab/scale-model.js';

const journalRewrites = [
  { targets: 100, rewriteMs: 1 },
  { targets: 1000, rewriteMs: 2 },
];
const inputs = { fixedMs: 1000, perHostCpuMs: 20, journalRewrites, cores: 2, perHostBytes: 10_000, uplinkBytesPerSecond: 100_000_000, perRelay: 50 };

describe('the scale model', () => {
  it('reads a journal rewrite between the sizes measured on their line, past them the nearest', () => {
    expect(rewriteMsAt(journalRewrites, 550)).toBeCloseTo(1.5);
    expect(rewriteMsAt(journalRewrites, 10)).toBe(1);
    expect(rewriteMsAt(journalRewrites, 10_000)).toBe(2);
    expect(rewriteMsAt([], 10)).toBe(0);
  });

  it("fits the CPU per host to the two larger counts' slope, the fixed cost from the smallest", () => {
    const fit = fitInputs(
      { hosts: 10, ms: 1200, cpuMs: 1200, sentBytes: undefined },
      { hosts: 100, ms: 3000, cpuMs: 3000, sentBytes: 1_000_000 },
      { hosts: 1000, ms: 20_000, cpuMs: 21_000, sentBytes: 9_000_000 },
      journalRewrites,
      { cores: 2, uplinkBytesPerSecond: 1e12, perRelay: 50 },
    );
    expect(fit.perHostCpuMs).toBe(20);
    expect(fit.perHostBytes).toBe(9000);
    // 10 hosts: the CPU bound 10 x 20 / 2 = 100 ms, the journal's 2 x 10 x 1 = 20 ms
    expect(fit.fixedMs).toBe(1100);
  });

  it('sends direct to every host, bound by the slowest of CPU, uplink and journal', () => {
    const row = modelRow(inputs, 1000, 0);
    // CPU 1,000 x 20 / 2 = 10 s; the journal 2 x 1,000 x 2 ms = 4 s
    expect(row.directMs).toBe(1000 + 10_000);
    expect(row.directEgress).toBe(1000 * 10_000);
    expect(row.relays).toBe(20);
    // the update server to 20 relays, journalling all 1,000 hosts (4 s); then each relay to its 50 hosts at once (0.5 s)
    expect(row.tieredMs).toBe(1000 + 4000 + 500);
    expect(row.tieredEgress).toBe(20 * 10_000);
    // at 10,000 hosts the journal rules: 2 x 10,000 x 2 ms; without it, 200 relays' CPU, 2 s
    expect(modelRow(inputs, 10_000, 0).tieredMs).toBe(1000 + 40_000 + 500);
    expect(modelRow(inputs, 10_000, 0).tieredWithoutJournalMs).toBe(1000 + 2000 + 500);
  });

  it('is bound by the uplink for a large payload, at the update server and at each relay', () => {
    const gb = 1_000_000_000;
    const row = modelRow(inputs, 10_000, gb);
    expect(row.directMs).toBeCloseTo(1000 + ((10_000 * (gb + 10_000)) / 100_000_000) * 1000);
    expect(row.tieredMs).toBeCloseTo(1000 + ((200 * (gb + 10_000)) / 100_000_000) * 1000 + ((50 * (gb + 10_000)) / 100_000_000) * 1000);
    // a zone never has more hosts than the farm
    expect(modelRow(inputs, 10, 0).tieredMs).toBe(1000 + 20 + (10 * 20) / 2);
  });

  it('puts the peer-to-peer ground where the tiers spend longer on the payload than a peer-to-peer start costs', () => {
    // 10,000 hosts: 200 relays and 50 hosts a zone; the tiers send the payload 250 times, one payload's worth is the floor
    expect(peerToPeerFromBytes(inputs, 10_000, 30_000)).toBeCloseTo((30 * 100_000_000) / 249);
    expect(peerToPeerFromBytes(inputs, 1000, 30_000)).toBeCloseTo((30 * 100_000_000) / 69);
  });
});
