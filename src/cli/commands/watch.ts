import { reopenLogOnHangup } from '../../base/log.js';
import { selectTargets } from '../../deploy/deploy.js';
import { watch } from '../../watch/watcher.js';
import type { GlobalArgs } from '../global-options.js';
import { sessionFor } from '../session.js';

/** `fanout watch`: in the foreground until stopped, a line on stdout for each batch; the log reopened on SIGHUP (logrotate). */
export async function runWatch(args: GlobalArgs): Promise<void> {
  const s = sessionFor(args);
  reopenLogOnHangup(s.log);
  await watch(s, {
    targets: selectTargets(s.config, args.target),
    write: (line) => {
      process.stdout.write(`${line}\n`);
    },
  });
}
