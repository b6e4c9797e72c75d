import type { Config, Target } from '../base/config.js';
import { rsyncDestArg } from '../base/dest.js';
import { filesFromList, type RsyncPass } from './rsync-pass.js';
import { sshCommand } from './ssh.js';

export interface RsyncArgsInput {
  config: Pick<Config, 'source' | 'exclude' | 'protect' | 'owner' | 'rsync'> & { revisionFile?: string | undefined };
  /** rsync's own --max-delete, a backstop behind the deploy's check of the plan */
  maxDelete?: number | undefined;
  target: Target;
  pass: RsyncPass;
  dryRun: boolean;
  /** extra flags for this call only (verify's itemizing dry run) */
  extra?: readonly string[];
  /**
   * a links pass whose file list comes later (an armed switch): rsync says `building file list
   * ... ` on stdout once it is connected (and, for a daemon, authenticated), just before it reads
   * the list (`--info=flist1`), so the switch knows it is ready
   */
  announceWaiting?: boolean;
  /**
   * Writing a slot that nothing serves (layout: slots): no --delay-updates, the shared paths left
   * alone, and, for a target's first slot, its in-place tree as the files to hard-link from.
   */
  staging?: { shared: readonly string[]; seedFrom: string | undefined; copyFrom?: string | undefined };
}

/**
 * The argument array for one target. Symlinks, permissions and file times are kept; directory
 * times are not (they change with every add or delete and mean nothing to a web server).
 * --delay-updates puts every changed file in place at the end, so a web server never sees a
 * half-copied set.
 *
 * Every pass runs in a --delete mode: only then does rsync send its filter rules (protect,
 * exclude) to a remote receiver, and without them a directory replaced by a file (--force) loses
 * its protected contents on a daemon or ssh target.
 */
export function rsyncArgs({ config, target, pass, dryRun, maxDelete, extra = [], staging, announceWaiting = false }: RsyncArgsInput): string[] {
  if (pass.kind === 'links') return linkArgs(config, target, pass, dryRun, announceWaiting);
  const args = ['--links', '--perms', '--times', '--omit-dir-times', '--force', ...(delaysUpdates(pass, staging) ? ['--delay-updates'] : []), '--mkpath', '--out-format=%i %l %n'];
  if (config.owner) args.push('--owner', '--group');
  if (maxDelete !== undefined) args.push(`--max-delete=${maxDelete}`);
  if (dryRun) args.push('--dry-run');
  args.push(...connectionArgs(target));
  for (const pattern of config.exclude) args.push(`--exclude=${pattern}`);
  for (const pattern of config.protect) args.push(`--filter=P ${pattern}`);
  // written by fanout after each transfer, never sent from the source, never deleted, not drift
  if (config.revisionFile !== undefined) args.push(`--exclude=/${config.revisionFile}`);
  // anchored: each is one path from the top of the slot, a symlink into shared/ there
  for (const shared of staging?.shared ?? []) args.push(`--exclude=/${shared}`);
  // relative to the slot (dest/slots/N/): a file the host already has there is copied on the
  // host, not sent (a copy, not a hard link: a later chmod in one slot must not reach the other);
  // contents compared, since the tree copied from holds another commit (a same-size edit within
  // the same second would pass rsync's size and time check)
  if (staging?.seedFrom !== undefined && pass.kind === 'full') args.push(`--copy-dest=${staging.seedFrom}`, ...(pass.checksum === true ? [] : ['--checksum']));
  // a slot two deploys behind lacks the last deploy's files too: the live slot has them, on the
  // host, so they are copied there instead of sent again
  if (staging?.copyFrom !== undefined && pass.kind === 'send') args.push(`--copy-dest=${staging.copyFrom}`);
  switch (pass.kind) {
    case 'full':
      args.push('--recursive', '--delete', '--delete-delay');
      if (pass.checksum === true) args.push('--checksum');
      break;
    case 'send':
      // Only the named paths, contents compared (two same-size edits in one second would pass
      // rsync's size+mtime quick check). No directory is named with a trailing slash, so --delete
      // has nothing to compare and deletes nothing but what a file must replace.
      args.push('--files-from=-', '--from0', '--checksum', '--delete');
      break;
    case 'prune':
      // Each listed directory (`dir/`) is compared entry by entry and what the source lacks there
      // is deleted; --existing with --ignore-existing sends nothing at all.
      args.push('--files-from=-', '--from0', '--dirs', '--delete', '--existing', '--ignore-existing');
      break;
  }
  args.push(...config.rsync.args, ...extra);
  args.push('--', withSlash(config.source), rsyncDestArg(target.dest));
  return args;
}

/**
 * Whether a pass puts its files in place at its end (--delay-updates): a transfer to a tree that is
 * served, but not a slot nothing serves, a prune (it sends nothing, and would keep the `.~tmp~`
 * directory a transfer cut short left), or a sweep (see RsyncPass).
 */
function delaysUpdates(pass: Exclude<RsyncPass, { kind: 'links' }>, staging: RsyncArgsInput['staging']): boolean {
  return staging === undefined && pass.kind !== 'prune' && !(pass.kind === 'full' && pass.sweep === true);
}

/**
 * A `links` pass: the names listed, from a scratch directory, as they are there (a symlink stays a
 * symlink; rsync writes a new one beside the old and renames it over, so `current` changes in one
 * step). No --perms or --times: a directory that exists (shared/uploads, written by the web
 * application) keeps its owner and mode. Nothing is deleted.
 */
function linkArgs(config: RsyncArgsInput['config'], target: Target, pass: Extract<RsyncPass, { kind: 'links' }>, dryRun: boolean, announceWaiting: boolean): string[] {
  // --ignore-times: a file listed (the revision file) is always sent; without --times the quick
  // check would skip one of the same size written within the same second
  const args = ['--links', '--dirs', '--ignore-times', '--mkpath', '--out-format=%i %l %n', '--files-from=-', '--from0'];
  // a shared directory the operator made a symlink (to an NFS mount, say) stays one; never for
  // `current`, which must itself be replaced
  if (pass.keepDirLinks === true) args.push('--keep-dirlinks');
  if (dryRun) args.push('--dry-run');
  args.push(...connectionArgs(target), ...config.rsync.args);
  // after the operator's own rsync.args, so that an --info there cannot silence it
  if (announceWaiting) args.push('--info=flist1');
  args.push('--', withSlash(pass.from), rsyncDestArg(target.dest));
  return args;
}

/** How to reach a target: timeouts, the daemon password file, the ssh command. */
export function connectionArgs(target: Target): string[] {
  const args = [`--timeout=${Math.ceil(target.timeout)}`];
  if (target.dest.kind === 'daemon') {
    // rsync's protocol is many small request/response exchanges: with Nagle's algorithm each one
    // can wait out the peer's delayed ACK (40 ms on Linux). Measured on loopback: a one-file sync
    // takes 60 ms with TCP_NODELAY, 150 ms without.
    args.push('--sockopts=TCP_NODELAY');
    args.push(`--contimeout=${Math.ceil(target.timeout)}`);
    if (target.passwordFile !== undefined) args.push(`--password-file=${target.passwordFile}`);
  }
  if (target.dest.kind === 'ssh') {
    // The remote path reaches the far side through the remote user's shell. rsync >= 3.2.4 escapes
    // it by default, but RSYNC_OLD_ARGS=1 in the environment (the pusher's, which the hook inherits)
    // turns that off and lets a path like "$(cmd)" run cmd there (test/integration/ssh.test.ts).
    // -s (--secluded-args) sends names through rsync's protocol instead, whatever the environment.
    args.push('-s', '--rsh', sshCommand(target));
  }
  return args;
}

/** What rsync reads on stdin: the pass's file list, none for a full pass. */
export function rsyncInput(pass: RsyncPass): Buffer | undefined {
  return pass.kind === 'full' ? undefined : filesFromList(pass);
}

function withSlash(p: string): string {
  return p.endsWith('/') ? p : `${p}/`;
}
