export interface ItemizedCounts {
  sent: number;
  /** every `*deleting` line, directories included: what --max-delete and maxDelete count */
  deleted: number;
  /** bytes of the files sent (their full length; rsync's delta transfer may move fewer) */
  bytes: number;
  /** the itemized lines as `%i %n`, names escaped by rsync (\#ooo for unprintable bytes) */
  lines: string[];
}

/**
 * Counts what --out-format='%i %l %n' reports, line by line as rsync prints it: a file sent
 * (`<f`/`>f`), a symlink or device created (`cL`, `cD`, `cS`), a deletion (`*deleting`, a
 * directory too, as --max-delete counts). Directories made or updated are not counted as sent.
 * Lines are kept only when asked (a dry run's listing), so a full pass over a million files costs
 * no memory.
 */
export class ItemCounter implements ItemizedCounts {
  sent = 0;
  deleted = 0;
  bytes = 0;
  readonly lines: string[] = [];
  /** rsync's own words when --max-delete stopped it: a daemon says so and still exits 0 */
  maxDeleteStop: string | undefined;
  readonly protectedNames: string[] = [];

  constructor(private readonly keepLines: boolean) {}

  add(line: string): void {
    const m = /^([<>ch.][fdLDS].{9}|\*deleting {2}) (\d+) (.+)$/.exec(line);
    if (m === null) {
      this.notItemized(line);
      return;
    }
    const [, item = '', length = '0', name = ''] = m;
    if (this.keepLines) this.lines.push(`${item} ${name}`);
    const type = item.charAt(1);
    if (item.startsWith('*deleting')) {
      this.deleted += 1;
      return;
    }
    if (type === 'd') return;
    const update = item.charAt(0);
    if (update === '<' || update === '>' || (update === 'c' && type !== 'f') || update === 'h') {
      this.sent += 1;
      if (type === 'f') this.bytes += Number(length);
    } else if (update === '.' && /[pogax]/.test(item.slice(5))) {
      // the contents were equal but the mode (chmod +x), owner or group changed: that is a change too
      this.sent += 1;
    }
  }

  private notItemized(line: string): void {
    if (MAX_DELETE_STOP.test(line)) this.maxDeleteStop ??= line.trim();
    const guarded = /^\[\w+\] protecting (?:file|directory) (.+) because of pattern /.exec(line);
    if (guarded?.[1] !== undefined && this.protectedNames.length < 20) this.protectedNames.push(guarded[1]);
  }
}

export const MAX_DELETE_STOP = /Deletions stopped due to --max-delete limit/;

export function parseItemized(stdout: string): ItemizedCounts {
  const counter = new ItemCounter(true);
  for (const line of stdout.split('\n')) counter.add(line);
  return counter;
}

/** The path an itemized line (`%i %n`, as kept by ItemCounter) is about. */
export function itemPath(line: string): string {
  return line.slice(12);
}
