/**
 * The usage flush: sends the outbox `public.polar_usage_events` to Polar's
 * `POST /v1/events/ingest`. It first refreshes the stored meter definitions (every page of
 * `GET /v1/meters/`), then claims pending rows oldest first and sends their events in batches of
 * at most {@linkcode USAGE_EVENTS_PER_BATCH}, each through the pacer. A row is marked delivered
 * only after Polar's 2xx for all its events. On a 422 the batch is split in halves until the
 * refused events are alone: their rows keep Polar's reason in `polar_refusal`, the rest are
 * delivered. Any other failure stops the pass and leaves the unsent rows pending; a resend later
 * is harmless, since Polar dedupes on each event's `external_id`.
 *
 * @module
 */
import { describeError } from "../_polar/log.ts";
import type { PolarPacer } from "../_polar/polar_pacer.ts";

/** One claimed outbox row (`public.claim_polar_usage_events`). */
export interface PendingUsage {
  /** The outbox row. */
  id: number;
  /** The user: the events' `external_customer_id`. */
  user_id: string;
  /** The event name the meter filters on. */
  event_name: string;
  /** For a sum meter, the metadata property carrying the units; null for a count meter. */
  units_property: string | null;
  /** The units recorded. */
  units: number | string;
  /** The row's external id, Polar's dedupe key. */
  external_id: string;
  /** The caller's metadata. */
  metadata: Record<string, string | number | boolean>;
  /** When it was recorded: the events' timestamp. */
  recorded_at: string;
}

/** An event as `POST /v1/events/ingest` takes it. */
export interface UsageEvent {
  /** The meter's event name. */
  name: string;
  /** The user id. */
  external_customer_id: string;
  /** The dedupe key. */
  external_id: string;
  /** When it was recorded. */
  timestamp: string;
  /** The row's metadata, plus the units for a sum meter. */
  metadata: Record<string, string | number | boolean>;
}

/** How Polar answered a batch. */
export type IngestOutcome =
  | { ok: true; inserted: number; duplicates: number }
  | { ok: false; refused: true; reason: string }
  | { ok: false; refused: false; error: unknown };

/** What {@linkcode createUsageFlush} depends on. */
export interface UsageFlushDependencies {
  /** Every meter Polar has (all pages of `GET /v1/meters/`), each page through `pacer`. */
  listMeters(pacer: PolarPacer): Promise<unknown[]>;
  /** `public.store_polar_meters`. */
  storeMeters(meters: unknown[]): Promise<unknown>;
  /** `public.claim_polar_usage_events`. */
  claim(maxRows: number): Promise<PendingUsage[]>;
  /** `public.finish_polar_usage_events`: answers the rows still pending. */
  finish(
    delivered: number[],
    refused: { id: number; reason: string }[],
    released: number[],
  ): Promise<number>;
  /** `public.pending_polar_usage_count`. */
  pendingCount(): Promise<number>;
  /** `POST /v1/events/ingest` with these events; a 422 answers `refused` with Polar's reason. */
  ingest(events: UsageEvent[]): Promise<IngestOutcome>;
  /** Paces the Polar calls (429 back-off). */
  pacer: PolarPacer;
  /** Milliseconds a pass may work before it stops claiming and sending. */
  budgetMs: number;
  /** A clock in milliseconds; `Date.now` by default. */
  now?: () => number;
}

/** What one flush did. */
export interface UsageFlushReport {
  /** Events Polar stored. */
  sent: number;
  /** Events Polar already had (the same `external_id`). */
  duplicates: number;
  /** Rows Polar refused (422); they keep the reason in `polar_refusal`. */
  failed: number;
  /** Rows still pending after the pass. */
  pending: number;
}

/** Events one ingest call carries at most (Polar's limit). */
export const USAGE_EVENTS_PER_BATCH = 1000;

/** Rows one claim takes at most. */
export const USAGE_ROWS_PER_CLAIM = 1000;

/**
 * The events of one outbox row: a sum meter's row is one event carrying the units in its
 * property; a count meter's row of n units is n events, `external_id` suffixed `:1` … `:n`.
 *
 * @param row the claimed row
 * @returns its events
 * @example
 * ```ts
 * usageEvents({ ...row, units_property: null, units: 2 }).map((e) => e.external_id);
 * // ["usage_ab…:1", "usage_ab…:2"]
 * ```
 */
export function usageEvents(row: PendingUsage): UsageEvent[] {
  const base = {
    name: row.event_name,
    external_customer_id: row.user_id,
    timestamp: new Date(row.recorded_at).toISOString(),
  };
  const units = Number(row.units);
  if (row.units_property !== null) {
    return [{
      ...base,
      external_id: row.external_id,
      metadata: { ...row.metadata, [row.units_property]: units },
    }];
  }
  return Array.from({ length: units }, (_, i) => ({
    ...base,
    external_id: `${row.external_id}:${i + 1}`,
    metadata: { ...row.metadata },
  }));
}

/**
 * Makes the flush.
 *
 * @param deps the meters, the outbox, Polar's ingest, the pacer and the budget
 * @returns one pass
 * @example
 * ```ts
 * const flush = createUsageFlush(deps);
 * await flush(); // { sent: 3, duplicates: 0, failed: 0, pending: 0 }
 * ```
 */
export function createUsageFlush(deps: UsageFlushDependencies): () => Promise<UsageFlushReport> {
  const now = deps.now ?? Date.now;
  return async () => {
    const started = now();
    const inBudget = () => now() - started < deps.budgetMs;
    await deps.storeMeters(await deps.listMeters(deps.pacer));
    const report: UsageFlushReport = { sent: 0, duplicates: 0, failed: 0, pending: 0 };
    let stopped = false;
    let pending: number | undefined;
    while (!stopped && inBudget()) {
      const rows = await deps.claim(USAGE_ROWS_PER_CLAIM);
      if (rows.length === 0) break;
      const tagged = rows.flatMap((row) => usageEvents(row).map((event) => ({ row, event })));
      /** Per row: events answered 2xx, and Polar's reason when one of them was refused. */
      const accepted = new Map<number, number>();
      const refusals = new Map<number, string>();
      /** Sends a slice; on a 422 splits it until the refused events are alone. */
      const send = async (slice: typeof tagged): Promise<void> => {
        if (stopped || slice.length === 0) return;
        if (!inBudget()) return void (stopped = true);
        let outcome: IngestOutcome;
        try {
          outcome = await deps.pacer(() => deps.ingest(slice.map((t) => t.event)));
        } catch (error) {
          outcome = { ok: false, refused: false, error };
        }
        if (outcome.ok) {
          report.sent += outcome.inserted;
          report.duplicates += outcome.duplicates;
          for (const { row } of slice) accepted.set(row.id, (accepted.get(row.id) ?? 0) + 1);
        } else if (!outcome.refused) {
          console.warn(
            `usage flush: ingest failed, rows stay pending: ${describeError(outcome.error)}`,
          );
          stopped = true;
        } else if (slice.length === 1) {
          const { row } = slice[0];
          if (!refusals.has(row.id)) refusals.set(row.id, outcome.reason);
        } else {
          const half = Math.ceil(slice.length / 2);
          await send(slice.slice(0, half));
          await send(slice.slice(half));
        }
      };
      for (let i = 0; i < tagged.length; i += USAGE_EVENTS_PER_BATCH) {
        await send(tagged.slice(i, i + USAGE_EVENTS_PER_BATCH));
      }
      const delivered: number[] = [];
      const refused: { id: number; reason: string }[] = [];
      const released: number[] = [];
      for (const row of rows) {
        const reason = refusals.get(row.id);
        if (reason !== undefined) refused.push({ id: row.id, reason });
        else if (accepted.get(row.id) === eventCount(row)) delivered.push(row.id);
        else released.push(row.id);
      }
      report.failed += refused.length;
      pending = await deps.finish(delivered, refused, released);
      if (rows.length < USAGE_ROWS_PER_CLAIM) break;
    }
    report.pending = pending ?? await deps.pendingCount();
    return report;
  };
}

/** How many events a row is sent as. */
function eventCount(row: PendingUsage): number {
  return row.units_property === null ? Number(row.units) : 1;
}
