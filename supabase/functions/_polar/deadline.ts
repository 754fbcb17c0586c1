/**
 * One deadline per request, shared by all of its upstream calls (JWKS, Auth, PostgREST, Polar), so
 * a request answers within its budget however the time is spread: four calls that each stay under
 * their own limit can no longer add up past it.
 *
 * @module
 */

/**
 * Milliseconds all upstream calls of one request may take together. Polar waits 10 s for a
 * webhook and browsers give up soon after; 9 s leaves a second for the function's own work.
 */
export const REQUEST_DEADLINE_MS = 9_000;

/** A point in time after which a request's upstream calls are cut off. */
export interface Deadline {
  /** Aborts when the deadline passes; pass it as `fetch`'s `signal`. */
  signal: AbortSignal;
  /** Milliseconds left, never below 0. */
  remainingMs(): number;
  /**
   * Seconds a call may take: what is left, at most `capSeconds` (for clients that take a timeout in
   * seconds instead of a signal, such as `@polar-sh/sdk`'s `{ timeout }` request option).
   */
  timeoutSeconds(capSeconds?: number): number;
}

/** Options of {@linkcode createDeadline}. */
export interface DeadlineOptions {
  /** A monotonic clock in milliseconds; `performance.now` by default. */
  now?: () => number;
}

/**
 * Starts a deadline `budgetMs` from now.
 *
 * @param budgetMs milliseconds until it passes; {@linkcode REQUEST_DEADLINE_MS} by default
 * @param options the clock
 * @returns the deadline
 * @example
 * ```ts
 * const deadline = createDeadline(9000);
 * await fetch(url, { signal: deadline.signal });
 * deadline.timeoutSeconds(3.5); // 3.5, or less once under 3.5 s remain
 * ```
 */
export function createDeadline(
  budgetMs: number = REQUEST_DEADLINE_MS,
  options: DeadlineOptions = {},
): Deadline {
  const now = options.now ?? (() => performance.now());
  const endsAt = now() + budgetMs;
  const signal = AbortSignal.timeout(Math.max(0, budgetMs));
  const remainingMs = () => Math.max(0, endsAt - now());
  return {
    signal,
    remainingMs,
    timeoutSeconds: (capSeconds = Infinity) => Math.min(capSeconds, remainingMs() / 1000),
  };
}

const deadlines = new WeakMap<Request, Deadline>();

/**
 * The deadline of a request: started the first time it is asked for (the functions ask first
 * thing, when they verify the caller), the same object on every later call, so every part of a
 * handler shares one budget without passing it around by hand.
 *
 * @param request the incoming request
 * @param budgetMs the budget, used only when the deadline starts; {@linkcode REQUEST_DEADLINE_MS}
 * @returns its deadline
 * @example
 * ```ts
 * const user = await verifyUser(request); // starts the deadline
 * await createSession(body, { timeout: requestDeadline(request).timeoutSeconds(3.5) });
 * ```
 */
export function requestDeadline(request: Request, budgetMs = REQUEST_DEADLINE_MS): Deadline {
  let deadline = deadlines.get(request);
  if (!deadline) {
    deadline = createDeadline(budgetMs);
    deadlines.set(request, deadline);
  }
  return deadline;
}

/**
 * Combines a call's own signal with a deadline's, for `fetch` wrappers.
 *
 * @param deadline the request's deadline, if any
 * @param signal the call's own signal, if any
 * @returns one signal that aborts when either does, or `undefined` when there is neither
 * @example
 * ```ts
 * fetch(url, { ...init, signal: withDeadline(user.deadline, init?.signal) });
 * ```
 */
export function withDeadline(
  deadline: Deadline | undefined,
  signal: AbortSignal | null | undefined,
): AbortSignal | undefined {
  if (!deadline) return signal ?? undefined;
  return signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
}
