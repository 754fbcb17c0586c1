/**
 * Polar's event ingestion (API 2026-10), as the Polar stand-in and the tests' fake answer it:
 * `POST /v1/events/ingest` with `{events: [...]}` answers `{inserted, duplicates}`. Checked
 * against Polar's server (`server/polar/event/service.py` `ingest`, `repository.py`
 * `insert_batch`):
 * - every event is validated first; one event whose `customer_id` is not a live customer of the
 *   organization refuses the whole batch with 422 (`{"detail": [{"type": "customer_id", "msg":
 *   "Customer not found.", "loc": ["body", "events", i, "customer_id"], "input": …}]}`, one entry
 *   per bad event) and nothing is stored;
 * - an `external_customer_id` is not checked: the event is stored with it, and meters count it
 *   for the customer whose `external_id` it is, once that customer exists (Polar's meter events
 *   match on `customer_id` or on `external_customer_id`);
 * - the rest are inserted `ON CONFLICT (organization_id, external_id) DO NOTHING`: an event whose
 *   `external_id` was already ingested, earlier or in the same batch, is counted in `duplicates`
 *   and not stored; events without `external_id` are never duplicates.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { ORGANIZATION_ID } from "./polar_models.ts";

/** An event as the stand-in stores it. */
export interface IngestedEvent {
  /** Polar's id of the event. */
  id: string;
  /** The event's name. */
  name: string;
  /** When it happened (the ingest time when the event had none). */
  timestamp: string;
  /** When it was ingested. */
  ingested_at: string;
  /** The dedupe key, unique per organization. */
  external_id: string | null;
  /** The customer, when the event named it by Polar's id. */
  customer_id: string | null;
  /** The customer's `external_id`, when the event named it so. */
  external_customer_id: string | null;
  /** The event's metadata. */
  metadata: Record<string, string | number | boolean>;
  /** The organization it belongs to. */
  organization_id: string;
}

/** Options of {@linkcode createPolarEventRoutes}. */
export interface PolarEventRoutesOptions {
  /** Called after a batch is stored, with the events inserted (not the duplicates). */
  onIngested?: (events: IngestedEvent[]) => void | Promise<void>;
}

/**
 * The event ingestion route over an event store and the organization's customers.
 *
 * @param store the stored events (appended to) and the customers `customer_id` must name
 * @param options what to do after a batch is stored
 * @returns the route: an answer, or `undefined` when the request is not `POST /v1/events/ingest`
 * @example
 * ```ts
 * const routes = createPolarEventRoutes({ events: [], customers });
 * await routes({ method: "POST", url, body: { events: [{ name: "ai_usage", external_customer_id: "u1" }] } });
 * // Response {"inserted": 1, "duplicates": 0}
 * ```
 */
export function createPolarEventRoutes(
  store: { events: IngestedEvent[]; customers: Map<string, models.CustomerIndividual> },
  options: PolarEventRoutesOptions = {},
): (
  request: { method: string; url: URL; body: Record<string, unknown> },
) => Promise<Response | undefined> {
  return async ({ method, url, body }) => {
    if (method !== "POST" || url.pathname !== "/v1/events/ingest") return undefined;
    const input = body.events;
    if (!Array.isArray(input)) {
      return refuse([{ type: "missing", loc: ["body", "events"], msg: "Field required", input }]);
    }
    const errors: ValidationIssue[] = [];
    const now = new Date().toISOString();
    const parsed: IngestedEvent[] = [];
    input.forEach((event: unknown, index) => {
      const problems = validate(event, index, store.customers);
      if (problems.length > 0) return errors.push(...problems);
      const e = event as models.EventCreateCustomer & models.EventCreateExternalCustomer;
      parsed.push({
        id: crypto.randomUUID(),
        name: e.name,
        timestamp: e.timestamp ? new Date(e.timestamp).toISOString() : now,
        ingested_at: now,
        external_id: e.external_id ?? null,
        customer_id: e.customer_id ?? null,
        external_customer_id: e.external_customer_id ?? null,
        metadata: (e.metadata ?? {}) as IngestedEvent["metadata"],
        organization_id: ORGANIZATION_ID,
      });
    });
    if (errors.length > 0) return refuse(errors);
    const seen = new Set(store.events.map((event) => event.external_id).filter(Boolean));
    const inserted: IngestedEvent[] = [];
    for (const event of parsed) {
      if (event.external_id !== null && seen.has(event.external_id)) continue;
      if (event.external_id !== null) seen.add(event.external_id);
      inserted.push(event);
    }
    store.events.push(...inserted);
    await options.onIngested?.(inserted);
    return Response.json(
      {
        inserted: inserted.length,
        duplicates: parsed.length - inserted.length,
      } satisfies models.EventsIngestResponse,
    );
  };
}

interface ValidationIssue {
  type: string;
  loc: (string | number)[];
  msg: string;
  input: unknown;
}

function refuse(detail: ValidationIssue[]): Response {
  return Response.json({ detail }, { status: 422 });
}

/** Pydantic's checks of one event, then Polar's customer check. */
function validate(
  event: unknown,
  index: number,
  customers: Map<string, models.CustomerIndividual>,
): ValidationIssue[] {
  const loc = ["body", "events", index];
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    return [{ type: "model_type", loc, msg: "Input should be a valid dictionary", input: event }];
  }
  const e = event as Record<string, unknown>;
  const issues: ValidationIssue[] = [];
  if (typeof e.name !== "string" || e.name.length === 0) {
    issues.push({
      type: "string_type",
      loc: [...loc, "name"],
      msg: "Field required",
      input: e.name,
    });
  }
  const hasId = typeof e.customer_id === "string";
  const hasExternal = typeof e.external_customer_id === "string";
  if (hasId === hasExternal) {
    issues.push({
      type: "missing",
      loc: [...loc, hasId ? "external_customer_id" : "customer_id"],
      msg: "Exactly one of customer_id or external_customer_id is required",
      input: event,
    });
  }
  if (e.external_id !== undefined && e.external_id !== null && typeof e.external_id !== "string") {
    issues.push({
      type: "string_type",
      loc: [...loc, "external_id"],
      msg: "Input should be a valid string",
      input: e.external_id,
    });
  }
  if (e.timestamp !== undefined && Number.isNaN(Date.parse(String(e.timestamp)))) {
    issues.push({
      type: "datetime_from_date_parsing",
      loc: [...loc, "timestamp"],
      msg: "Input should be a valid datetime",
      input: e.timestamp,
    });
  }
  const metadata = e.metadata ?? {};
  if (
    typeof metadata !== "object" || metadata === null || Array.isArray(metadata) ||
    Object.values(metadata).some((value) => !["string", "number", "boolean"].includes(typeof value))
  ) {
    issues.push({
      type: "dict_type",
      loc: [...loc, "metadata"],
      msg: "Metadata values must be strings, numbers or booleans",
      input: metadata,
    });
  }
  if (issues.length === 0 && hasId) {
    const customer = customers.get(e.customer_id as string);
    if (!customer || customer.deleted_at) {
      issues.push({
        type: "customer_id",
        loc: [...loc, "customer_id"],
        msg: "Customer not found.",
        input: e.customer_id,
      });
    }
  }
  return issues;
}
