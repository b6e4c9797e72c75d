import type { Config } from '../base/config.js';
import type { Logger } from '../base/log.js';
import type { Routes } from './relay-routes.js';
import type { Reporter } from './report.js';

/** What every deploy, rollback, sync and watch batch runs with: made once by the command that starts it. */
export interface Context {
  config: Config;
  log: Logger;
  reporter: Reporter;
  /**
   * Writes what operators read of the farm beside fanout (the metrics textfile, the farm page) from the journal
   * as it stands; run after every deploy, whatever became of it. Returns warnings for the
   * operator. Passed down by the command, so that the engine never imports the read-outs.
   */
  publish: () => Promise<string[]>;
  /** with relays, during a deploy: which way each target's passes go (relay-routes.ts); undefined: all directly */
  routes?: Routes | undefined;
}
