/**
 * Bytes sent on the loopback, counted by the kernel: an nftables table with a named counter per
 * destination range, on the output hook, in the benchmark's own network namespace only (never in
 * the host's firewall). Counted are IP packets, headers included (IP and TCP, not the loopback's
 * 14-byte link header), in one direction: to the range. Every process of the update server, the
 * relays and the targets shares 127.0.0.1 as its source address, so the destination tells who
 * received: the targets (127.0.1.0/24) or the relays (127.0.2.0/24).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { inPrivateNetns } from './netns.js';

const TABLE = 'fanout_bench';

export interface Ranges {
  [name: string]: string;
}

export interface TrafficCounters {
  /** bytes counted so far, per range name */
  read(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

interface NftCounter {
  counter?: { name: string; table: string; bytes: number };
}

/** Counters per range, or why there are none (no private namespace, no nft). */
export async function countTraffic(ranges: Ranges): Promise<TrafficCounters | { why: string }> {
  if (!inPrivateNetns()) return { why: 'not in a private network namespace: the host firewall is left alone' };
  const names = Object.keys(ranges).filter((n) => /^[a-z][a-z0-9_]*$/.test(n));
  const ruleset = [
    `table ip ${TABLE} {`,
    ...names.map((n) => `  counter ${n} { }`),
    '  chain out {',
    '    type filter hook output priority 0; policy accept;',
    ...names.map((n) => `    ip daddr ${ranges[n] ?? ''} counter name ${n}`),
    '  }',
    '}',
    '',
  ].join('\n');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-bench-nft-')), 'counters.nft');
  fs.writeFileSync(file, ruleset);
  const loaded = await execa('nft', ['-f', file], { reject: false });
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  if (loaded.exitCode !== 0) return { why: `nft: ${loaded.stderr.trim() === '' ? loaded.shortMessage : loaded.stderr.trim().split('\n')[0]}` };
  return {
    async read() {
      const listed = await execa('nft', ['-j', 'list', 'counters', 'table', 'ip', TABLE]);
      const parsed = JSON.parse(listed.stdout) as { nftables: NftCounter[] };
      const out: Record<string, number> = {};
      for (const item of parsed.nftables) if (item.counter !== undefined) out[item.counter.name] = item.counter.bytes;
      return out;
    },
    async stop() {
      await execa('nft', ['delete', 'table', 'ip', TABLE], { reject: false });
    },
  };
}
