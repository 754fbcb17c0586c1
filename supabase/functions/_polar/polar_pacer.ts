/**
 * Paces calls to Polar for long runs (the reconcile): no more than a given number per minute,
 * and on a 429 a wait (Polar's `Retry-After`, else a doubling back-off) before trying again.
 *
 * @module
 */
import { PolarRateLimitError } from "@polar-sh/sdk";

/** Options of {@linkcode createPolarPacer}. */
export interface PolarPacerOptions {
  /** Calls allowed per minute. */
  perMinute: number;
  /** Retries after a 429 before giving up; 4 by default. */
  maxRetries?: number;
  /** A clock in milliseconds; `Date.now` by default. */
  now?: () => number;
  /** Waits; `setTimeout` by default. */
  sleep?: (ms: number) => Promise<void>;
}

/** A paced caller, and what it did so far. */
export interface PolarPacer {
  /** Runs `call` when the pace allows, retrying it after 429s. */
  <T>(call: () => Promise<T>): Promise<T>;
  /** Calls made (each attempt counts). */
  readonly calls: number;
  /** 429 answers received. */
  readonly rateLimited: number;
}

/** The first wait after a 429 without `Retry-After`, doubled on each retry. */
const FIRST_BACKOFF_MS = 1000;

/**
 * Makes a paced caller.
 *
 * @param options calls per minute, retries, clock and sleep
 * @returns the caller
 * @example
 * ```ts
 * const paced = createPolarPacer({ perMinute: 80 });
 * const page = await paced(() => listCustomers(polar)({ page: 1, limit: 100 }));
 * paced.calls; // 1
 * ```
 */
export function createPolarPacer(options: PolarPacerOptions): PolarPacer {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  const maxRetries = options.maxRetries ?? 4;
  const intervalMs = 60_000 / options.perMinute;
  let nextAt = 0;
  let calls = 0;
  let rateLimited = 0;

  const paced = async <T>(call: () => Promise<T>): Promise<T> => {
    for (let attempt = 0;; attempt++) {
      const wait = nextAt - now();
      if (wait > 0) await sleep(wait);
      nextAt = Math.max(now(), nextAt) + intervalMs;
      calls++;
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof PolarRateLimitError) || attempt >= maxRetries) throw error;
        rateLimited++;
        const backoff = error.retryAfter !== null && error.retryAfter >= 0
          ? error.retryAfter * 1000
          : FIRST_BACKOFF_MS * 2 ** attempt;
        nextAt = Math.max(nextAt, now() + backoff);
      }
    }
  };
  return Object.defineProperties(paced, {
    calls: { get: () => calls },
    rateLimited: { get: () => rateLimited },
  }) as PolarPacer;
}
