/**
 * The usage flush's production wiring: each database dependency as one service-role RPC, Polar's
 * meters list and event ingestion as calls of `@polar-sh/sdk`'s per-service functions (a 422
 * answered as a refusal with Polar's reasons). Shared by the sync function and the benchmark,
 * which passes an RPC of its own.
 *
 * @module
 */
import { errors } from "@polar-sh/sdk/2026-10";
import { ingestEvents } from "@polar-sh/sdk/2026-10/services/events";
import { listMeters } from "@polar-sh/sdk/2026-10/services/meters";
import { type PolarCore, validationDetails } from "../_polar/polar.ts";
import type { PolarPacer } from "../_polar/polar_pacer.ts";
import type { Rpc } from "./reconcile_wiring.ts";
import type { PendingUsage, UsageFlushDependencies } from "./usage.ts";

/** Seconds a usage flush holds the rows it claimed: longer than its budget. */
export const USAGE_CLAIM_LEASE_SECONDS = 120;

/** Options of {@linkcode createUsageFlushWiring}. */
export interface UsageFlushWiringOptions {
  /** Calls the database. */
  rpc: Rpc;
  /** The Polar client. */
  polar: PolarCore;
  /** Paces every Polar call. */
  pacer: PolarPacer;
  /** Milliseconds a pass may work before it stops claiming and sending. */
  budgetMs: number;
}

/**
 * Wires the usage flush's dependencies.
 *
 * @param options the RPC, the Polar client and pacer, the budget
 * @returns dependencies for `createUsageFlush`
 * @example
 * ```ts
 * const flush = createUsageFlush(createUsageFlushWiring({ rpc, polar, pacer, budgetMs: 45_000 }));
 * ```
 */
export function createUsageFlushWiring(options: UsageFlushWiringOptions): UsageFlushDependencies {
  const { rpc, polar } = options;
  const listMeterPage = listMeters(polar);
  const ingest = ingestEvents(polar);
  return {
    listMeters: async (paced) => {
      const meters: unknown[] = [];
      for (let page = 1, maxPage = 1; page <= maxPage; page++) {
        const answer = await paced(() => listMeterPage({ page, limit: 100 }));
        meters.push(...answer.items);
        maxPage = answer.pagination.max_page;
      }
      return meters;
    },
    storeMeters: (meters) => rpc("store_polar_meters", { meters }),
    claim: (maxRows) =>
      rpc<PendingUsage[]>("claim_polar_usage_events", {
        max_rows: maxRows,
        lease_seconds: USAGE_CLAIM_LEASE_SECONDS,
      }),
    finish: (delivered, refused, released) =>
      rpc<number>("finish_polar_usage_events", { delivered, refused, released }).then(Number),
    pendingCount: () => rpc<number>("pending_polar_usage_count").then(Number),
    ingest: async (events) => {
      try {
        const { inserted, duplicates } = await ingest({ events });
        return { ok: true as const, inserted, duplicates: duplicates ?? 0 };
      } catch (error) {
        if (!(error instanceof errors.HTTPValidationError)) throw error;
        const reason = validationDetails(error).map((d) => d.msg).filter(Boolean).join("; ");
        return {
          ok: false as const,
          refused: true as const,
          reason: reason || "Polar refused the events (422)",
        };
      }
    },
    pacer: options.pacer,
    budgetMs: options.budgetMs,
  };
}
