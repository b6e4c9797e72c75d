import { advance, IDLE, phaseEvent, phaseLine, progressEvent, progressLine, type Progress, type ProgressEvent } from './progress.js';

// How and when a deploy's progress (progress.ts) is shown: on a terminal one line rewritten in
// place, in a pipe (the pusher's remote: lines, a log) a line at each phase and a beat every 2 s,
// for --json the same as events. The reporters (report.ts) and watch's batches use these.

/** The time progress is shown by, passed in so that a test moves it by hand (watch's Clock is one). */
export interface Ticker {
  now(): number;
  /** `fn` once, `ms` from now; returns what cancels it */
  after(ms: number, fn: () => void): () => void;
}

/** The real time; its timer never keeps fanout running once the work is done. */
export const systemTicker: Ticker = {
  now: () => Date.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => {
      clearTimeout(timer);
    };
  },
};

/** What a reporter does with progress: takes its events, clears its line for another, stops for good. */
export interface ProgressShow {
  update(event: ProgressEvent): void;
  /** a line of the report follows: a line drawn in place is erased first */
  clear(): void;
  /** the deploy's report is over: no beat from now on (a later phase starts them again) */
  stop(): void;
}

/** How often a pipe and --json are told where the deploy is, whether or not its counts moved (one large file, a slow checkout). */
export const BEAT_MS = 2000;

/**
 * The progress of the deploy in hand, moved on by its events, and a beat every `everyMs` while a
 * phase runs: the first `everyMs` after the first phase (or the last restart), none once the deploy
 * is over or stopped.
 */
export class ProgressFeed {
  private settled: Progress = IDLE;
  /**
   * The last count of each target, taken in as it comes and read into the progress only when it
   * is shown: rsync reports every file, a million of them in a full pass of a large tree, to each
   * target, and each would otherwise copy the farm's list of targets.
   */
  private readonly counts = new Map<string, ProgressEvent & { kind: 'sent' }>();
  private cancel: (() => void) | undefined;

  constructor(
    private readonly ticker: Ticker,
    private readonly everyMs: number,
    private readonly beat: (progress: Progress, now: number) => void,
  ) {}

  get progress(): Progress {
    const now = this.ticker.now();
    for (const sent of this.counts.values()) this.settled = advance(this.settled, sent, now);
    this.counts.clear();
    return this.settled;
  }

  update(event: ProgressEvent): void {
    if (event.kind === 'sent') {
      this.counts.set(event.target, event);
      return;
    }
    // the counts before a target finished are its last
    this.settled = advance(this.progress, event, this.ticker.now());
    if (this.settled.phase === undefined) this.stop();
    else this.cancel ??= this.arm();
  }

  /** the next beat a whole period from now: a line just printed says where the deploy is */
  restart(): void {
    this.stop();
    if (this.settled.phase !== undefined) this.cancel = this.arm();
  }

  stop(): void {
    this.cancel?.();
    this.cancel = undefined;
  }

  private arm(): () => void {
    return this.ticker.after(this.everyMs, () => {
      this.cancel = this.arm();
      this.beat(this.progress, this.ticker.now());
    });
  }
}

/**
 * Progress as lines, for a pipe and for watch: one as each phase begins (with `announce`, and
 * unless the phase is quiet), and the progress line every 2 s while it runs.
 */
export function progressLines(write: (line: string) => void, ticker: Ticker, announce: boolean): ProgressShow {
  const feed = new ProgressFeed(ticker, BEAT_MS, (progress, now) => {
    const line = progressLine(progress, now);
    if (line !== undefined) write(line);
  });
  return {
    update(event) {
      feed.update(event);
      if (event.kind !== 'phase' || event.quiet === true || !announce) return;
      const line = phaseLine(feed.progress);
      if (line !== undefined) write(line);
      feed.restart();
    },
    clear: () => undefined,
    stop: () => {
      feed.stop();
    },
  };
}

/** Progress for --json: an event as each phase begins, quiet ones too, and one every 2 s while it runs; a JSON object a line. */
export function progressEvents(write: (line: string) => void, ticker: Ticker): ProgressShow {
  const feed = new ProgressFeed(ticker, BEAT_MS, (progress, now) => {
    const event = progressEvent(progress, now);
    if (event !== undefined) write(JSON.stringify(event));
  });
  return {
    update(event) {
      feed.update(event);
      if (event.kind !== 'phase') return;
      write(JSON.stringify(phaseEvent(feed.progress, ticker.now())));
      feed.restart();
    },
    clear: () => undefined,
    stop: () => {
      feed.stop();
    },
  };
}

/** A deploy that ends within this long shows no live line: it would only flicker. */
const LIVE_AFTER_MS = 1000;
/** The live line is drawn again at least this often, so that its time moves, and at most this often as counts change. */
const REDRAW = { everyMs: 1000, atMostMs: 200 };

/**
 * Progress on a terminal: one line on stderr rewritten in place, cut to the terminal's width (a
 * line that wraps cannot be rewritten), erased before any other line. A build's output takes the
 * line while it comes.
 */
export function liveProgress(write: (text: string) => void, ticker: Ticker, columns: () => number): ProgressShow & { buildLine(line: string): void } {
  const started = ticker.now();
  let shown = false;
  let lastDraw = -Infinity;
  let lastBuildLine = -Infinity;
  // two spaces before the line, and the last column left free: a line that fills it wraps on some terminals
  const room = (): number => columns() - 3;
  const show = (text: string): void => {
    write(`\r\u001b[K  ${fit(text, room())}`);
    shown = true;
  };
  const draw = (progress: Progress, now: number): void => {
    const line = progressLine(progress, now, room());
    if (line === undefined || now - started < LIVE_AFTER_MS) return;
    show(line);
    lastDraw = now;
  };
  const clear = (): void => {
    if (shown) write('\r\u001b[K');
    shown = false;
  };
  const feed = new ProgressFeed(ticker, REDRAW.everyMs, (progress, now) => {
    if (now - lastBuildLine >= REDRAW.everyMs) draw(progress, now);
  });
  return {
    update(event) {
      feed.update(event);
      const now = ticker.now();
      if (event.kind === 'idle') clear();
      else if (event.kind === 'phase' || now - lastDraw >= REDRAW.atMostMs) draw(feed.progress, now);
    },
    buildLine(line) {
      show(`build: ${line}`);
      lastBuildLine = ticker.now();
    },
    clear,
    stop() {
      feed.stop();
      clear();
    },
  };
}

function fit(text: string, width: number): string {
  const room = Math.max(20, width);
  return text.length <= room ? text : `${text.slice(0, room - 1)}…`;
}
