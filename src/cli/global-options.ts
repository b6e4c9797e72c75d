/** The options every command takes, and what they come to once parsed. */
export const GLOBAL_OPTIONS = {
  config: { type: 'string', describe: 'config file (default: $FANOUT_CONFIG, else ./fanout.yaml, else /etc/fanout/fanout.yaml)' },
  json: { type: 'boolean', default: false, describe: 'one JSON document on stdout' },
  stage: { type: 'string', describe: 'the stage (a farm of the config\'s stages) to work on; not needed with one' },
  target: { type: 'string', array: true, default: [] as string[], describe: 'only this target (repeatable)' },
  verbose: { type: 'boolean', default: false, describe: 'stack traces for internal errors' },
} as const;

/** --dry-run, for the commands that send something (deploy, rollback, sync) and only those. */
export const DRY_RUN = { type: 'boolean', default: false, describe: 'show what would be sent and deleted, change nothing' } as const;

export interface GlobalArgs {
  config: string | undefined;
  json: boolean;
  stage: string | undefined;
  target: string[];
  verbose: boolean;
}
