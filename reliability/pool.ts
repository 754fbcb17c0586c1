/**
 * Bounded concurrency for the load-style suites: run work over items, a fixed number at a time.
 *
 * @module
 */

/**
 * Runs `work` over `items` with at most `concurrency` at a time, taking items in order.
 *
 * @param items what to work on
 * @param concurrency how many at once
 * @param work the work for one item
 * @returns when every item is done; rejects with the first failure
 * @example
 * ```ts
 * await pool(users, 8, async (user) => await subscribe(user));
 * ```
 */
export async function pool<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await work(items[next++]);
  }));
}
