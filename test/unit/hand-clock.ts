/** Lets every promise that can settle do so (a deploy, the timer set after it). */
export async function settle(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

/** A clock moved by hand, for the unit tests of what waits: a timer fires when `advance` passes its time. */
export class HandClock {
  t = 0;
  private timers: { at: number; fn: () => void }[] = [];

  now = (): number => this.t;

  after = (ms: number, fn: () => void): (() => void) => {
    const timer = { at: this.t + ms, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  };

  /** when the timers set are due */
  get due(): number[] {
    return this.timers.map((x) => x.at);
  }

  async advance(to: number): Promise<void> {
    await settle();
    for (;;) {
      const next = this.timers.filter((x) => x.at <= to).sort((a, b) => a.at - b.at)[0];
      if (next === undefined) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = next.at;
      next.fn();
      await settle();
    }
    this.t = to;
    await settle();
  }
}
