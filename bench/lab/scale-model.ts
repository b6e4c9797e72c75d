/**
 * The model of README's "A thousand hosts and more": time and update-server egress of one push
 * against the number of hosts, direct (the update server sends to every host) and tiered (it
 * sends to one relay per zone, each relay sends to its zone), from what the farm-scale scenario
 * measured. Pure: the same numbers in, the same table out, so a unit test checks the arithmetic.
 *
 * The update server's time is the fixed cost, fanout's journal (JOURNAL_WRITES rewrites of the
 * whole state a deploy, each of every target's entry; outcomes in between are group-committed,
 * off the transfers' way), and the slower of its CPU (what its process tree spends per host, over
 * its cores) and its uplink (bytes / bandwidth). Tiered, as fanout's relays work: the update
 * server sends the release to each relay (tier one), then every host's pass runs on its relay, but
 * is started from the update server as an ssh session through the relay's one connection, so the
 * update server still spends CPU per host (measured through relays), while the payload leaves it
 * once per relay; each relay sends to its zone at once, bound by its own CPU and uplink.
 */

/** The journal's rewrites in a deploy besides the group commits during its transfer: the checkout begun, the transfers begun, the phase's flush, the deploy's end. */
export const JOURNAL_WRITES = 4;

export interface ModelInputs {
  /** the push's cost whatever the count (git, node's start, lock, plan, checkout), ms */
  fixedMs: number;
  /** CPU per host on the update server, ms */
  perHostCpuMs: number;
  /** the same sending through relays (an ssh session a host), ms; the direct figure where relays were not measured */
  perHostCpuTieredMs: number;
  /** one rewrite of the journal, measured at a few farm sizes */
  journalRewrites: { targets: number; rewriteMs: number }[];
  /** cores the update server (and each relay) gives a push */
  cores: number;
  /** what the update server sends one host for a 1-file change (rsync's protocol, the file, TCP/IP headers), bytes; a payload adds to it */
  perHostBytes: number;
  /** what it sends a relay a host for a 1-file change, tiered (the ssh session's words and the release's share), bytes */
  perHostTieredBytes: number;
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

/** The slower of a sender's CPU (`cpuHosts` hosts at `perHostCpuMs` each, over its cores) and its uplink (`bytes`). */
function boundMs(inputs: ModelInputs, cpuHosts: number, perHostCpuMs: number, bytes: number): number {
  return Math.max((cpuHosts * perHostCpuMs) / inputs.cores, (bytes / inputs.uplinkBytesPerSecond) * 1000);
}

export function modelRow(inputs: ModelInputs, hosts: number, payloadBytes: number): ModelRow {
  const relays = Math.ceil(hosts / inputs.perRelay);
  const zone = Math.min(hosts, inputs.perRelay);
  const fixed = inputs.fixedMs + JOURNAL_WRITES * rewriteMsAt(inputs.journalRewrites, hosts);
  const tierOne = boundMs(inputs, relays, inputs.perHostCpuMs, relays * (payloadBytes + inputs.perHostBytes));
  // every host's pass started from the update server, while each relay sends to its zone
  const tierTwo = Math.max(boundMs(inputs, hosts, inputs.perHostCpuTieredMs, hosts * inputs.perHostTieredBytes), boundMs(inputs, zone, inputs.perHostCpuMs, zone * (payloadBytes + inputs.perHostBytes)));
  return {
    hosts,
    payloadBytes,
    directMs: fixed + boundMs(inputs, hosts, inputs.perHostCpuMs, hosts * (payloadBytes + inputs.perHostBytes)),
    directEgress: hosts * (payloadBytes + inputs.perHostBytes),
    relays,
    tieredMs: fixed + tierOne + tierTwo,
    tieredEgress: relays * (payloadBytes + inputs.perHostBytes) + hosts * inputs.perHostTieredBytes,
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
 * The model's inputs from the 1-file pushes: CPU per host the slope of the tree's CPU between the
 * two larger counts (direct, and through relays where measured), the bytes per host of the
 * largest, the journal's rewrites as measured, and the fixed cost what the smallest count's
 * direct push took beyond its bounds.
 */
export function fitInputs(
  direct: { smallest: Measured; small: Measured; large: Measured },
  tiered: { small: Measured; large: Measured } | undefined,
  journalRewrites: { targets: number; rewriteMs: number }[],
  assumptions: { cores: number; uplinkBytesPerSecond: number; perRelay: number },
): ModelInputs {
  const slope = (small: Measured, large: Measured): number => Math.max(0, (large.cpuMs - small.cpuMs) / (large.hosts - small.hosts));
  const perHost = (small: Measured, large: Measured): number => (large.sentBytes !== undefined ? large.sentBytes / large.hosts : small.sentBytes !== undefined ? small.sentBytes / small.hosts : 0);
  const perHostCpuMs = slope(direct.small, direct.large);
  const perHostBytes = perHost(direct.small, direct.large);
  const inputs = {
    fixedMs: 0,
    perHostCpuMs,
    perHostCpuTieredMs: tiered === undefined ? perHostCpuMs : slope(tiered.small, tiered.large),
    journalRewrites,
    perHostBytes,
    perHostTieredBytes: tiered === undefined ? perHostBytes : perHost(tiered.small, tiered.large),
    ...assumptions,
  };
  const { smallest } = direct;
  return { ...inputs, fixedMs: Math.max(0, smallest.ms - modelRow(inputs, smallest.hosts, 0).directMs) };
}
