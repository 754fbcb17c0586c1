/**
 * Polar's list pagination and sorting, as every list endpoint answers (checked against Polar's
 * server, `server/polar/kit/pagination.py` and `kit/sorting.py`): `page` from 1, `limit` 10 by
 * default and 100 at most (`API_PAGINATION_MAX_LIMIT`), `pagination.total_count` and
 * `max_page`; `sorting` names a property, `-` first for descending.
 *
 * @module
 */

/** One page of a list, as Polar's list endpoints answer it. */
export interface ListPage<T> {
  /** The page's items. */
  items: T[];
  /** The whole list's count and its last page. */
  pagination: { total_count: number; max_page: number };
}

/** Polar's most items per page. */
export const MAX_LIMIT = 100;

/**
 * One page of a list.
 *
 * @param url the request's URL (its `page` and `limit`)
 * @param all every item, already filtered and sorted
 * @returns the page
 * @example
 * ```ts
 * listPage(new URL("http://x/v1/customers/?page=2&limit=1"), ["a", "b"]).items; // ["b"]
 * ```
 */
export function listPage<T>(url: URL, all: readonly T[]): ListPage<T> {
  const number = Math.max(1, Number(url.searchParams.get("page") ?? 1) || 1);
  const limit = Math.min(MAX_LIMIT, Math.max(1, Number(url.searchParams.get("limit") ?? 10) || 10));
  return {
    items: all.slice((number - 1) * limit, number * limit),
    pagination: { total_count: all.length, max_page: Math.ceil(all.length / limit) },
  };
}

/**
 * Sorts by the request's `sorting` (the first one; `-` for descending), else by `fallback`. Ties
 * keep their order; a null sorts last ascending and first descending, as PostgreSQL does.
 *
 * @param url the request's URL
 * @param items the items
 * @param fallback the endpoint's default sorting, such as `-created_at`
 * @returns a sorted copy
 * @example
 * ```ts
 * sortItems(new URL("http://x/?sorting=created_at"), customers, "-created_at");
 * ```
 */
export function sortItems<T>(url: URL, items: readonly T[], fallback: string): T[] {
  const sorting = url.searchParams.get("sorting") ?? fallback;
  const descending = sorting.startsWith("-");
  const field = descending ? sorting.slice(1) : sorting;
  const value = (item: T) => (item as Record<string, unknown>)[field] as string | number | null;
  return [...items].sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    if (x === y) return 0;
    if (x === null || x === undefined) return descending ? -1 : 1;
    if (y === null || y === undefined) return descending ? 1 : -1;
    return (x < y ? -1 : 1) * (descending ? -1 : 1);
  });
}

/**
 * Whether an item passes a multiple-value filter (`?customer_id=a&customer_id=b`): always when
 * the filter is absent.
 *
 * @param url the request's URL
 * @param name the filter's name
 * @param value the item's value
 * @returns whether it passes
 * @example
 * ```ts
 * matchesAny(new URL("http://x/?customer_id=a"), "customer_id", "a"); // true
 * ```
 */
export function matchesAny(url: URL, name: string, value: string | null | undefined): boolean {
  const wanted = url.searchParams.getAll(name).flatMap((entry) => entry.split(","));
  return wanted.length === 0 || (value !== null && value !== undefined && wanted.includes(value));
}

/**
 * A boolean filter (`?active=true`): `null` when absent.
 *
 * @param url the request's URL
 * @param name the filter's name
 * @returns the filter's value
 * @example
 * ```ts
 * booleanFilter(new URL("http://x/?is_granted=false"), "is_granted"); // false
 * ```
 */
export function booleanFilter(url: URL, name: string): boolean | null {
  const value = url.searchParams.get(name);
  return value === null ? null : value === "true";
}
