/**
 * The model of README's "A thousand hosts and more": time and update-server egress of one push
 * against the number of hosts, direct (the update server sends to every host) and tiered (it
 * sends to one relay per zone, each relay sends to its zone), from what the farm-scale scenario
 * measured. Pure: the same numbers in, the same table out, so a unit test checks the arithmetic.
 *
 * A sender's time is the larger of two bounds: its CPU (what the update server's process tree
 * spends per host, over its cores) and its uplink (bytes / bandwidth). The CPU per host has a part
 * that grows with the farm: fanout's journal rewrites the whole state (every target's entry) twice
 * per target, so a push to N hosts costs N² in it; the fit from two counts finds both parts. A
 * relay only runs rsync to its zone: it pays the constant part alone. The tiered time is the
 * update server to its relays, then every relay to its zone at once, plus the fixed cost.
 */

export interface ModelInputs {
  /** the push's cost whatever the count (git, node's start, lock, plan, checkout), ms */
  fixedMs: number;
  /** CPU per host on the update server, the constant part, ms */
  perHostCpuMs: number;
  /** CPU per host that grows with the farm (the journal), ms per host per host */
  perHostPerHostCpuMs: number;
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
  tieredEgress: number;
}

/** One sender to `count` receivers, `journalled` hosts in its journal: its CPU or its uplink, whichever is slower. */
function sendMs(inputs: ModelInputs, count: number, journalled: number, payloadBytes: number): number {
  const cpu = (count * inputs.perHostCpuMs + journalled * journalled * inputs.perHostPerHostCpuMs) / inputs.cores;
  const uplink = ((count * (payloadBytes + inputs.perHostBytes)) / inputs.uplinkBytesPerSecond) * 1000;
  return Math.max(cpu, uplink);
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
 * The model's inputs from the direct 1-file pushes: CPU per host = a + b x hosts through the two
 * larger counts, the bytes per host of the largest, and the fixed cost what the smallest count's
 * push took beyond its CPU bound.
 */
export function fitInputs(smallest: Measured, small: Measured, large: Measured, assumptions: { cores: number; uplinkBytesPerSecond: number; perRelay: number }): ModelInputs {
  const perHostPerHostCpuMs = Math.max(0, (large.cpuMs / large.hosts - small.cpuMs / small.hosts) / (large.hosts - small.hosts));
  const perHostCpuMs = Math.max(0, small.cpuMs / small.hosts - perHostPerHostCpuMs * small.hosts);
  const perHostBytes = large.sentBytes !== undefined ? large.sentBytes / large.hosts : small.sentBytes !== undefined ? small.sentBytes / small.hosts : 0;
  const cpuBound = (smallest.hosts * perHostCpuMs + smallest.hosts * smallest.hosts * perHostPerHostCpuMs) / assumptions.cores;
  return { fixedMs: Math.max(0, smallest.ms - cpuBound), perHostCpuMs, perHostPerHostCpuMs, perHostBytes, ...assumptions };
}
