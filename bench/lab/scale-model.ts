/**
 * The model of README's "A thousand hosts and more": time and update-server egress of one push
 * against the number of hosts, direct (the update server sends to every host) and tiered (it
 * sends to one relay per zone, each relay sends to its zone), from what the farm-scale scenario
 * measured. Pure: the same numbers in, the same table out, so a unit test checks the arithmetic.
 *
 * A sender's time is the largest of three bounds: its CPU (what the update server's process tree
 * spends per host, over its cores), its uplink (bytes / bandwidth), and fanout's journal, which
 * rewrites the whole state (every target's entry: write, fsync, rename) twice per target, one
 * rewrite at a time on node's one thread: N rewrites of a state that grows with N, so N² per
 * push. A relay only runs rsync to its zone: CPU and uplink, no journal. The tiered time is the
 * update server to its relays, then every relay to its zone at once, plus the fixed cost.
 */

export interface ModelInputs {
  /** the push's cost whatever the count (git, node's start, lock, plan, checkout), ms */
  fixedMs: number;
  /** CPU per host on the update server, ms */
  perHostCpuMs: number;
  /** one rewrite of the journal, measured at a few farm sizes (fanout rewrites it twice a host) */
  journalRewrites: { targets: number; rewriteMs: number }[];
  /** cores the update server (and each relay) gives a push */
  cores: number;
  /** what the update server sends one host for a 1-file change (rsync's protocol, the file, TCP/IP headers), bytes; a payload adds to it */
  perHostBytes: number;
  /** the uplink of the update server and of each relay, bytes per second */
  uplinkBytesPerSecond: number;
  /** hosts per relay */
  perRelay: number;
}

export interface ModelRow {
  hosts: number;
  payloadBytes: number;
  directMs: number;
  directEgress: number;
  relays: number;
  tieredMs: number;
  /** the same with a journal that records a host without rewriting every host's entry */
  tieredWithoutJournalMs: number;
  tieredEgress: number;
}

/** A rewrite of a journal of `targets`: between the sizes measured, on the line through the nearest two; past them, the nearest. */
export function rewriteMsAt(points: readonly { targets: number; rewriteMs: number }[], targets: number): number {
  const sorted = [...points].sort((a, b) => a.targets - b.targets);
  const first = sorted[0];
  const last = sorted.at(-1);
  if (first === undefined || last === undefined) return 0;
  if (targets <= first.targets) return first.rewriteMs;
  if (targets >= last.targets) return last.rewriteMs;
  const i = sorted.findIndex((p) => p.targets >= targets);
  const [lo, hi] = [sorted[i - 1] ?? first, sorted[i] ?? last];
  return lo.rewriteMs + ((hi.rewriteMs - lo.rewriteMs) * (targets - lo.targets)) / (hi.targets - lo.targets);
}

/** One sender to `count` receivers, `journalled` hosts in its journal: its CPU, its uplink or its journal, whichever is slowest. */
function sendMs(inputs: ModelInputs, count: number, journalled: number, payloadBytes: number): number {
  const cpu = (count * inputs.perHostCpuMs) / inputs.cores;
  const uplink = ((count * (payloadBytes + inputs.perHostBytes)) / inputs.uplinkBytesPerSecond) * 1000;
  const journal = journalled === 0 ? 0 : 2 * journalled * rewriteMsAt(inputs.journalRewrites, journalled);
  return Math.max(cpu, uplink, journal);
}

export function modelRow(inputs: ModelInputs, hosts: number, payloadBytes: number): ModelRow {
  const relays = Math.ceil(hosts / inputs.perRelay);
  const zone = Math.min(hosts, inputs.perRelay);
  return {
    hosts,
    payloadBytes,
    directMs: inputs.fixedMs + sendMs(inputs, hosts, hosts, payloadBytes),
    directEgress: hosts * (payloadBytes + inputs.perHostBytes),
    relays,
    // the update server still records every host; a relay records nothing
    tieredMs: inputs.fixedMs + sendMs(inputs, relays, hosts, payloadBytes) + sendMs(inputs, zone, 0, payloadBytes),
    tieredWithoutJournalMs: inputs.fixedMs + sendMs(inputs, relays, 0, payloadBytes) + sendMs(inputs, zone, 0, payloadBytes),
    tieredEgress: relays * (payloadBytes + inputs.perHostBytes),
  };
}

/**
 * The payload past which a peer-to-peer engine (BitTorrent-style, as Twitter's Murder) is faster
 * than the tiers for `hosts`: the tiers' uplink time, the payload sent once to each relay and then
 * once to each host of a zone ((relays + zone) x payload / uplink), exceeds what the peer-to-peer
 * engine costs beyond one payload's transfer (`startMs`: its clients started on every host, the
 * tracker, the pieces' first hops); every host uploading what it has keeps its time near one
 * payload's transfer, however many hosts.
 */
export function peerToPeerFromBytes(inputs: ModelInputs, hosts: number, startMs: number): number {
  const relays = Math.ceil(hosts / inputs.perRelay);
  const zone = Math.min(hosts, inputs.perRelay);
  return ((startMs / 1000) * inputs.uplinkBytesPerSecond) / Math.max(1, relays + zone - 1);
}

export interface Measured {
  hosts: number;
  /** the whole push, ms */
  ms: number;
  /** CPU of the push's process tree, ms */
  cpuMs: number;
  sentBytes: number | undefined;
}

/**
 * The model's inputs from the direct 1-file pushes: CPU per host the slope of the tree's CPU
 * between the two larger counts, the bytes per host of the largest, the journal's rewrites as
 * measured, and the fixed cost what the smallest count's push took beyond its bounds.
 */
export function fitInputs(
  smallest: Measured,
  small: Measured,
  large: Measured,
  journalRewrites: { targets: number; rewriteMs: number }[],
  assumptions: { cores: number; uplinkBytesPerSecond: number; perRelay: number },
): ModelInputs {
  const perHostCpuMs = Math.max(0, (large.cpuMs - small.cpuMs) / (large.hosts - small.hosts));
  const perHostBytes = large.sentBytes !== undefined ? large.sentBytes / large.hosts : small.sentBytes !== undefined ? small.sentBytes / small.hosts : 0;
  const inputs = { fixedMs: 0, perHostCpuMs, journalRewrites, perHostBytes, ...assumptions };
  return { ...inputs, fixedMs: Math.max(0, smallest.ms - sendMs(inputs, smallest.hosts, smallest.hosts, 0)) };
}
