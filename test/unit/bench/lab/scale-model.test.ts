import { describe, expect, it } from 'vitest';
import { fitInputs, modelRow, peerToPeerFromBytes } from '../../../../bench/lab/scale-model.js';

const inputs = { fixedMs: 1000, perHostCpuMs: 20, perHostPerHostCpuMs: 0.01, cores: 2, perHostBytes: 10_000, uplinkBytesPerSecond: 100_000_000, perRelay: 50 };

describe('the scale model', () => {
  it('fits a constant and a growing CPU per host through two counts, the fixed cost from the smallest', () => {
    // CPU per host 20 ms + 0.01 ms x hosts: 21 ms a host at 100, 30 ms at 1,000
    const fit = fitInputs(
      { hosts: 10, ms: 1101, cpuMs: 201, sentBytes: undefined },
      { hosts: 100, ms: 3000, cpuMs: 2100, sentBytes: 1_000_000 },
      { hosts: 1000, ms: 20_000, cpuMs: 30_000, sentBytes: 9_000_000 },
      { cores: 2, uplinkBytesPerSecond: 1, perRelay: 50 },
    );
    expect(fit.perHostPerHostCpuMs).toBeCloseTo(0.01);
    expect(fit.perHostCpuMs).toBeCloseTo(20);
    expect(fit.perHostBytes).toBe(9000);
    // 10 hosts: (10 x 20 + 100 x 0.01) / 2 cores = 100.5 ms of CPU bound
    expect(fit.fixedMs).toBeCloseTo(1101 - 100.5);
  });

  it('sends direct to every host, bound by its CPU for a small change, the journal growing with the farm', () => {
    const row = modelRow(inputs, 1000, 0);
    expect(row.directMs).toBeCloseTo(1000 + (1000 * 20 + 1000 * 1000 * 0.01) / 2);
    expect(row.directEgress).toBe(1000 * 10_000);
    expect(row.relays).toBe(20);
    // the update server to 20 relays (journalling all 1,000 hosts), then each relay to its 50 hosts at once
    expect(row.tieredMs).toBeCloseTo(1000 + (20 * 20 + 1000 * 1000 * 0.01) / 2 + (50 * 20) / 2);
    expect(row.tieredEgress).toBe(20 * 10_000);
  });

  it('is bound by the uplink for a large payload, at the update server and at each relay', () => {
    const gb = 1_000_000_000;
    const flat = { ...inputs, perHostPerHostCpuMs: 0 };
    const row = modelRow(flat, 10_000, gb);
    expect(row.directMs).toBeCloseTo(1000 + ((10_000 * (gb + 10_000)) / 100_000_000) * 1000);
    expect(row.tieredMs).toBeCloseTo(1000 + ((200 * (gb + 10_000)) / 100_000_000) * 1000 + ((50 * (gb + 10_000)) / 100_000_000) * 1000);
    // a zone never has more hosts than the farm
    expect(modelRow(flat, 10, 0).tieredMs).toBe(1000 + 20 / 2 + (10 * 20) / 2);
  });

  it('puts the peer-to-peer ground where the tiers spend longer on the payload than a peer-to-peer start costs', () => {
    // 10,000 hosts: 200 relays and 50 hosts a zone; the tiers send the payload 250 times, one payload's worth is the floor
    expect(peerToPeerFromBytes(inputs, 10_000, 30_000)).toBeCloseTo((30 * 100_000_000) / 249);
    expect(peerToPeerFromBytes(inputs, 1000, 30_000)).toBeCloseTo((30 * 100_000_000) / 69);
  });
});
