/**
 * Polar's meters (API 2026-10), as the Polar stand-in and the tests' fake answer them:
 * `GET /v1/meters/` (paged, 100 at most; filters `query` on the name and `is_archived`; sorting
 * `name` by default, also `created_at`, as `server/polar/meter/endpoints.py` and `sorting.py`
 * have it), the demo meter, and how a meter reads events: its `filter` (clauses on `name` or on
 * a metadata property, joined by `and`/`or`) and its `aggregation` (`count`, or `sum`, `max`,
 * `min`, `avg` of a metadata property).
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { DEMO_METER, demoMeterModel } from "./polar_models.ts";
import { booleanFilter, listPage, sortItems } from "./polar_pages.ts";

export { DEMO_METER, demoMeterModel };

/** An event as a meter reads it: its name and metadata. */
export interface MeteredEvent {
  /** The event's name. */
  name: string;
  /** Its metadata (string, number or boolean values). */
  metadata?: Record<string, unknown>;
}

/**
 * Whether a meter's filter takes an event. `name` is the event's name; any other property is a
 * metadata key (Polar also accepts `metadata.` before it).
 *
 * @param filter the meter's filter
 * @param event the event
 * @returns whether the meter counts it
 * @example
 * ```ts
 * meterMatches(demoMeterModel().filter, { name: "ai_usage" }); // true
 * ```
 */
export function meterMatches(filter: models.Filter, event: MeteredEvent): boolean {
  const results = filter.clauses.map((clause) =>
    "clauses" in clause ? meterMatches(clause, event) : clauseMatches(clause, event)
  );
  return filter.conjunction === "or" ? results.some(Boolean) : results.every(Boolean);
}

/**
 * A meter's reading over events: what its aggregation makes of those its filter takes (0 when
 * none; a property aggregation skips events whose property is not a number).
 *
 * @param meter the meter
 * @param events the events
 * @returns the units
 * @example
 * ```ts
 * meterUnits(demoMeterModel(), [{ name: "ai_usage", metadata: { units: 10 } }]); // 10
 * ```
 */
export function meterUnits(meter: models.Meter, events: Iterable<MeteredEvent>): number {
  const matching = [...events].filter((event) => meterMatches(meter.filter, event));
  const aggregation = meter.aggregation;
  if (!("property" in aggregation) || aggregation.func === undefined) return matching.length;
  const values = matching
    .map((event) => event.metadata?.[aggregation.property])
    .filter((value): value is number => typeof value === "number" && Number.isFinite(value));
  if (values.length === 0) return 0;
  switch (aggregation.func) {
    case "sum":
      return values.reduce((a, b) => a + b, 0);
    case "max":
      return Math.max(...values);
    case "min":
      return Math.min(...values);
    case "avg":
      return values.reduce((a, b) => a + b, 0) / values.length;
    default:
      // A unique aggregation counts distinct values.
      return new Set(values).size;
  }
}

/**
 * The meter routes over a source of meters (read on every request).
 *
 * @param meters every meter of the organization
 * @returns the routes: an answer, or `undefined` when the request is not one of them
 * @example
 * ```ts
 * const routes = createPolarMeterRoutes(() => [demoMeterModel()]);
 * await routes({ method: "GET", url: new URL("http://x/v1/meters/") })?.json();
 * ```
 */
export function createPolarMeterRoutes(
  meters: () => Iterable<models.Meter>,
): (request: { method: string; url: URL }) => Response | undefined {
  return ({ method, url }) => {
    if (method !== "GET" || url.pathname !== "/v1/meters/") return undefined;
    const archived = booleanFilter(url, "is_archived");
    const query = url.searchParams.get("query")?.toLowerCase();
    const matching = [...meters()].filter((meter) =>
      (archived === null || Boolean(meter.archived_at) === archived) &&
      (!query || meter.name.toLowerCase().includes(query))
    );
    return Response.json(
      listPage(url, sortItems(url, matching, "name")) satisfies models.ListResourceMeter,
    );
  };
}

function clauseMatches(clause: models.FilterClause, event: MeteredEvent): boolean {
  const key = clause.property.replace(/^metadata\./, "");
  const actual = clause.property === "name" ? event.name : event.metadata?.[key];
  if (actual === undefined || actual === null) return false;
  const expected = clause.value;
  switch (clause.operator) {
    case "eq":
      return actual === expected;
    case "ne":
      return actual !== expected;
    case "gt":
      return Number(actual) > Number(expected);
    case "gte":
      return Number(actual) >= Number(expected);
    case "lt":
      return Number(actual) < Number(expected);
    case "lte":
      return Number(actual) <= Number(expected);
    case "like":
      return String(actual).includes(String(expected));
    case "not_like":
      return !String(actual).includes(String(expected));
  }
}
