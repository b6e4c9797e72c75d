import { selectTargets } from '../../deploy/deploy.js';
import { itemLines, statusWord } from '../../engine/report.js';
import { driftPaths, verify, type Drift } from '../../observe/verify.js';
import type { GlobalArgs } from '../global-options.js';
import { writeJson } from '../print.js';
import { sessionFor } from '../session.js';

/** `fanout verify [--all-slots]`: exit 1 unless every target is the same as the source. */
export async function runVerify(args: GlobalArgs & { 'all-slots': boolean }): Promise<void> {
  const s = sessionFor(args);
  const drifts = await verify(s, selectTargets(s.config, args.target), { allSlots: args['all-slots'] });
  const allSame = drifts.every((d) => d.status === 'same');
  process.exitCode = allSame ? 0 : 1;
  if (args.json) writeJson({ ok: allSame, targets: drifts.map((d) => ({ ...d, paths: driftPaths(d) })) });
  else s.out.write(verifyText(drifts, s.out.color));
}

/** The comparisons for a terminal: a line per target (and slot), each path that differs, then how to repair. */
export function verifyText(drifts: readonly Drift[], color: boolean): string {
  const label = (d: Drift): string => (d.slot === undefined || d.slot === 'current' ? d.name : `${d.name} slot ${d.slot}`);
  const width = Math.max(...drifts.map((d) => label(d).length));
  let text = '';
  for (const d of drifts) {
    const name = label(d).padEnd(width);
    if (d.status === 'same') text += `${name}  ${statusWord('same', color)}   identical to ${d.slot !== undefined && d.slot !== 'current' ? 'the commit it holds' : 'the source'}\n`;
    else if (d.status === 'failed') text += `${name}  ${statusWord('failed', color)} ${d.error ?? ''}\n`;
    else text += `${name}  ${statusWord('drift', color)}  ${d.items.length} ${d.items.length === 1 ? 'path differs' : 'paths differ'}:\n${itemLines(d.items, ' '.repeat(width + 4))}`;
  }
  // drift is repaired by a full pass; a target that could not be reached only needs catching up
  const drifted = drifts.filter((d) => d.status === 'drift').map((d) => d.name);
  const unreachable = drifts.filter((d) => d.status === 'failed').map((d) => d.name);
  if (drifted.length > 0) text += `repair with: fanout sync --full ${drifted.map((n) => `--target ${n}`).join(' ')}\n`;
  if (unreachable.length > 0) text += `once it answers, catch it up with: fanout sync ${unreachable.map((n) => `--target ${n}`).join(' ')}\n`;
  return text;
}
