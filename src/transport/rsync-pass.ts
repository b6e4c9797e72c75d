import { relPathBytes, type RelPath } from '../base/paths.js';

/** One rsync run: a full pass, the files a paths plan sends, or the directories its removals are pruned from. */
export type RsyncPass =
  /**
   * `sweep`: without --delay-updates, whose `.~tmp~` directories rsync keeps from deletion (a
   * receiver killed mid-transfer leaves one, full of new files, in a served directory): for a
   * tree that may hold such leftovers, or any file the source lacks. The files still arrive each
   * by a rename, but not all at the end.
   */
  | { kind: 'full'; checksum?: boolean; sweep?: boolean }
  | { kind: 'send'; paths: readonly RelPath[] }
  | { kind: 'prune'; directories: readonly RelPath[] }
  /** layout: slots: symlinks and directories made in a scratch directory (`current`, a slot's shared links), sent as they are, nothing deleted */
  | { kind: 'links'; from: string; names: readonly RelPath[]; keepDirLinks?: boolean };

/**
 * The --files-from list for rsync --from0: NUL-terminated, so any byte but NUL is safe in a name,
 * each name written `./name`: rsync drops a line that begins with `#` or `;` as a comment even with
 * --from0, and `./` is only a path prefix to it. A directory to prune ends in `/`: with --dirs that
 * makes rsync compare its entries (and only its own, not those of the directories in it).
 */
export function filesFromList(pass: Exclude<RsyncPass, { kind: 'full' }>): Buffer {
  const names = pass.kind === 'send' ? pass.paths.map((p) => `./${p}\0`) : pass.kind === 'links' ? pass.names.map((p) => `./${p}\0`) : pass.directories.map((d) => (d === '.' ? './\0' : `./${d}/\0`));
  return relPathBytes(names.join(''));
}
