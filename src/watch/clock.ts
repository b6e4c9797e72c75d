import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Time as the parts of watch see it, passed in: the real one in `fanout watch`, one a test moves by
 * hand, so that a rule about waiting (a batch's settle time, a restart's backoff, the poll of an
 * unwatched directory) is tested without waiting.
 */
export interface Clock {
  now(): number;
  /** `fn` once, `ms` from now; returns what cancels it */
  after(ms: number, fn: () => void): () => void;
  /** `fn` every `ms`; returns what stops it */
  every(ms: number, fn: () => void): () => void;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    return () => {
      clearTimeout(timer);
    };
  },
  every: (ms, fn) => {
    const timer = setInterval(fn, ms);
    return () => {
      clearInterval(timer);
    };
  },
  sleep: async (ms) => {
    await sleep(ms);
  },
};
