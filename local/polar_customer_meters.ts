/**
 * Polar's organization-wide customer meters (API 2026-10), as the Polar stand-in and the tests'
 * fake answer them: `GET /v1/customer-meters/` (paged, 100 at most; filters `customer_id`,
 * `external_customer_id`, `meter_id`; sorting `-modified_at` by default, also `created_at`).
 * Each item embeds its `customer` (with `external_id`) and its `meter`. Checked against Polar's
 * server (`server/polar/customer_meter/endpoints.py`, `schemas.py`, `sorting.py`): meters whose
 * meter is archived are left out of the list. Also the stand-in's recompute of customer meters
 * from ingested events and credits, after a delay like Polar's.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import type { IngestedEvent } from "./polar_events.ts";
import { meterMatches, meterUnits } from "./polar_meters.ts";
import { customerMeterModel } from "./polar_models.ts";
import { listPage, matchesAny, sortItems } from "./polar_pages.ts";

/**
 * The customer meter routes over a source of customer meters (read on every request).
 *
 * @param meters every customer meter of the organization
 * @returns the routes: an answer, or `undefined` when the request is not one of them
 * @example
 * ```ts
 * const routes = createPolarCustomerMeterRoutes(() => [meter]);
 * await routes({ method: "GET", url: new URL("http://x/v1/customer-meters/") })?.json();
 * ```
 */
export function createPolarCustomerMeterRoutes(
  meters: () => Iterable<models.CustomerMeter>,
): (request: { method: string; url: URL }) => Response | undefined {
  return ({ method, url }) => {
    if (method !== "GET" || url.pathname !== "/v1/customer-meters/") return undefined;
    const matching = [...meters()].filter((meter) =>
      !meter.meter.archived_at &&
      matchesAny(url, "customer_id", meter.customer_id) &&
      matchesAny(url, "external_customer_id", meter.customer.external_id) &&
      matchesAny(url, "meter_id", meter.meter_id)
    );
    return Response.json(
      listPage(
        url,
        sortItems(url, matching, "-modified_at"),
      ) satisfies models.ListResourceCustomerMeter,
    );
  };
}

/** Options of {@linkcode createCustomerMeterUsage}. */
export interface CustomerMeterUsageOptions {
  /** The organization's meters. */
  meters: () => Iterable<models.Meter>;
  /** The organization's customers, by id. */
  customers: Map<string, models.CustomerIndividual>;
  /** Every ingested event. */
  events: () => Iterable<IngestedEvent>;
  /** The customer meters, by id: what recomputes write and the list and Customer State read. */
  customerMeters: Map<string, models.CustomerMeter>;
  /** Milliseconds from a customer's last change to its recompute (Polar: 15 s at least). */
  delayMs: number;
  /** Called after each recompute (the stand-in sends `customer.state_changed`). */
  onRecomputed?: (customer: models.CustomerIndividual) => void | Promise<void>;
}

/** The customer meters' recompute, debounced per customer. */
export interface CustomerMeterUsage {
  /** Adds credited units to a customer's meter (a `meter_credit` grant); recomputes later. */
  credit(customerId: string, meterId: string, units: number): void;
  /** Schedules the recompute of the customers these events belong to, as far as they exist. */
  ingested(events: Iterable<IngestedEvent>): void;
  /** Schedules a customer's recompute (after the delay since its last change). */
  schedule(customerId: string): void;
  /** Resolves once no recompute is waiting or running. */
  settled(): Promise<void>;
  /** Drops the waiting recomputes. */
  close(): void;
}

/**
 * Customer meters computed from ingested events and credits, as Polar's
 * `customer_meter.update_customer` job does (`server/polar/customer_meter/tasks.py`): debounced
 * per customer, `delayMs` after the customer's last change (at most ten delays after the first
 * one waiting), so until then `consumed_units`, `credited_units`, `balance` and `modified_at`
 * stay as they were. A customer's events are those naming its `id` or its `external_id`; a
 * customer meter appears once a customer has an event or a credit for that meter.
 *
 * @param options meters, customers, events, where customer meters are written, the delay
 * @returns the recompute
 * @example
 * ```ts
 * const usage = createCustomerMeterUsage({ meters, customers, events, customerMeters, delayMs: 0 });
 * usage.credit(customer.id, meterId, 100);
 * await usage.settled(); // customerMeters holds a meter with balance 100
 * ```
 */
export function createCustomerMeterUsage(options: CustomerMeterUsageOptions): CustomerMeterUsage {
  const credits: { customerId: string; meterId: string; units: number }[] = [];
  const waiting = new Map<string, { timer: ReturnType<typeof setTimeout>; firstAt: number }>();
  const running = new Set<Promise<void>>();
  let idle: (() => void)[] = [];
  const maxDelayMs = options.delayMs * 10;

  const wake = () => {
    if (waiting.size > 0 || running.size > 0) return;
    for (const resolve of idle) resolve();
    idle = [];
  };

  const recompute = async (customerId: string) => {
    const customer = options.customers.get(customerId);
    if (!customer || customer.deleted_at) return;
    const events = [...options.events()].filter((event) =>
      event.customer_id === customer.id ||
      (event.external_customer_id !== null && event.external_customer_id === customer.external_id)
    );
    const now = new Date().toISOString();
    for (const meter of options.meters()) {
      if (meter.archived_at) continue;
      const counted = events.filter((event) => meterMatches(meter.filter, event));
      const credited = credits
        .filter((c) => c.customerId === customer.id && c.meterId === meter.id)
        .reduce((sum, c) => sum + c.units, 0);
      const existing = [...options.customerMeters.values()].find((m) =>
        m.customer_id === customer.id && m.meter_id === meter.id
      );
      if (!existing && counted.length === 0 && credited === 0) continue;
      const consumed = meterUnits(meter, counted);
      if (
        existing && existing.consumed_units === consumed && existing.credited_units === credited
      ) continue;
      const fields = {
        consumed_units: consumed,
        credited_units: credited,
        balance: credited - consumed,
        modified_at: now,
        customer,
        meter,
      };
      if (existing) Object.assign(existing, fields);
      else {
        const created = { ...customerMeterModel(customer, { meter_id: meter.id }), ...fields };
        options.customerMeters.set(created.id, { ...created, created_at: now });
      }
    }
    await options.onRecomputed?.(customer);
  };

  const schedule = (customerId: string) => {
    const now = Date.now();
    const previous = waiting.get(customerId);
    if (previous) clearTimeout(previous.timer);
    const firstAt = previous?.firstAt ?? now;
    const wait = Math.max(0, Math.min(options.delayMs, firstAt + maxDelayMs - now));
    const timer = setTimeout(() => {
      waiting.delete(customerId);
      const job = recompute(customerId).catch(() => {}).finally(() => {
        running.delete(job);
        wake();
      });
      running.add(job);
    }, wait);
    waiting.set(customerId, { timer, firstAt });
  };

  return {
    credit(customerId, meterId, units) {
      credits.push({ customerId, meterId, units });
      schedule(customerId);
    },
    ingested(events) {
      const ids = new Set<string>();
      for (const event of events) {
        const customer = event.customer_id
          ? options.customers.get(event.customer_id)
          : [...options.customers.values()].find((c) =>
            !c.deleted_at && c.external_id !== null && c.external_id === event.external_customer_id
          );
        if (customer) ids.add(customer.id);
      }
      for (const id of ids) schedule(id);
    },
    schedule,
    settled() {
      if (waiting.size === 0 && running.size === 0) return Promise.resolve();
      return new Promise((resolve) => idle.push(resolve));
    },
    close() {
      for (const { timer } of waiting.values()) clearTimeout(timer);
      waiting.clear();
      wake();
    },
  };
}
