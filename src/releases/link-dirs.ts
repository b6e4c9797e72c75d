import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../base/config.js';
import { ownSubdir } from '../base/trust.js';

/**
 * The scratch directories, of fanout's own, where the symlinks sent to targets are made (rsync
 * sends them as they are): `current` for a switch, a slot's shared links, the revision file.
 */

/** A scratch directory for one purpose, emptied first. */
export function scratch(config: Config, what: string): string {
  const dir = path.join(ownSubdir(config.stateDir, 'links'), what);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
}

/** A relative symlink `current -> slots/SLOT` in a scratch directory, made if it is not there yet. */
export function currentLink(config: Config, slot: string): string {
  const dir = path.join(ownSubdir(config.stateDir, 'links'), `current-${slot}`);
  const link = path.join(dir, 'current');
  let made = false;
  try {
    made = fs.lstatSync(link).isSymbolicLink() && fs.readlinkSync(link) === `slots/${slot}`;
  } catch {
    made = false;
  }
  if (!made) {
    scratch(config, `current-${slot}`);
    fs.symlinkSync(`slots/${slot}`, link);
  }
  return dir;
}
