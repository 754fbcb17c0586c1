/**
 * `deno task link-customer --user <user id> --customer <Polar customer id> [--dry-run]`: the
 * operator's way to link a Polar customer from before the integration (no `external_id`) to a
 * Supabase user. It checks both sides first, then sets the customer's `external_id` in Polar
 * (immutable once set) and stores the link. Never automatic, never by email.
 *
 * Environment: `SUPABASE_URL`, the secret key (`SUPABASE_SECRET_KEYS`, `SUPABASE_SECRET_KEY` or
 * `SUPABASE_SERVICE_ROLE_KEY`), `POLAR_ACCESS_TOKEN`, `POLAR_SERVER`, optional `POLAR_API_URL`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { getCustomers, updateCustomers } from "@polar-sh/sdk/2026-10/services/customers";
import {
  type EnvReader,
  loadPolarConfig,
  readSupabaseKey,
  readSupabaseUrl,
  UUID,
} from "../supabase/functions/_polar/config.ts";
import {
  createPolarCustomerApi,
  type LinkOptions,
  linkPolarCustomer,
  type LinkResult,
  type PolarCustomer,
} from "../supabase/functions/_polar/customer_link.ts";
import { createPolarClient, orNullOnNotFound } from "../supabase/functions/_polar/polar.ts";
import { createServerClient } from "../supabase/functions/_polar/supabase.ts";

/** What {@linkcode linkExistingCustomer} depends on. */
export interface LinkCustomerDependencies {
  /** `GET /v1/customers/{id}`; `null` when Polar has no such customer. */
  getCustomer(id: string): Promise<PolarCustomer | null>;
  /** `GET /v1/customers/external/{external_id}`; `null` when there is none. */
  getCustomerByExternalId(externalId: string): Promise<PolarCustomer | null>;
  /** `PATCH /v1/customers/{id}` with `{ external_id }`. */
  setExternalId(id: string, externalId: string): Promise<PolarCustomer>;
  /** `public.link_polar_customer` (service role). */
  link(userId: string, customer: PolarCustomer, options?: LinkOptions): Promise<LinkResult>;
}

/** What a run did or, with `dryRun`, would do. */
export interface LinkCustomerReport {
  /** `linked`, `unchanged`, or `would link` for a dry run. */
  outcome: "linked" | "unchanged" | "would link";
  /** Whether Polar's `external_id` was (or would be) set by this run. */
  setExternalId: boolean;
}

/** A check that failed; nothing was changed. */
export class LinkCustomerError extends Error {
  /** @param message what is wrong, for the operator */
  constructor(message: string) {
    super(message);
    this.name = "LinkCustomerError";
  }
}

/**
 * Links an existing Polar customer to a user after checking both: the customer exists and has no
 * other `external_id`; the user exists, has no other Polar customer, and no other user's row holds
 * this customer. Only then is Polar's `external_id` set (if not yet) and the link stored.
 *
 * @param deps Polar's customer calls and the link write
 * @param userId the Supabase user id
 * @param customerId the Polar customer id
 * @param options `dryRun` checks everything and changes nothing
 * @returns what was done
 * @throws {LinkCustomerError} naming the check that failed, before anything changed
 * @example
 * ```ts
 * await linkExistingCustomer(deps, userId, "992fae2a-…"); // { outcome: "linked", setExternalId: true }
 * ```
 */
export async function linkExistingCustomer(
  deps: LinkCustomerDependencies,
  givenUserId: string,
  customerId: string,
  options: LinkOptions = {},
): Promise<LinkCustomerReport> {
  if (!UUID.test(givenUserId)) {
    throw new LinkCustomerError(`User id "${givenUserId}" is not a UUID`);
  }
  // Polar's lookups by external_id are exact: the id it stores must be the form auth.users prints.
  const userId = givenUserId.toLowerCase();
  const customer = await deps.getCustomer(customerId);
  if (!customer) throw new LinkCustomerError(`Polar has no customer ${customerId}`);
  if (customer.external_id !== null && customer.external_id !== userId) {
    throw new LinkCustomerError(
      `Polar customer ${customerId} already has external_id ${customer.external_id}, which cannot change`,
    );
  }
  const current = await deps.getCustomerByExternalId(userId);
  if (current && current.id !== customerId) {
    throw new LinkCustomerError(`User ${userId} already has Polar customer ${current.id}`);
  }
  const check = await deps.link(userId, { ...customer, external_id: userId }, { dryRun: true });
  if (check.outcome === "refused") {
    throw new LinkCustomerError(`The database refuses the link: ${check.reason}`);
  }
  const setExternalId = customer.external_id === null;
  if (options.dryRun) {
    return { outcome: check.outcome === "unchanged" ? "unchanged" : "would link", setExternalId };
  }
  const linked = setExternalId ? await deps.setExternalId(customerId, userId) : customer;
  const result = await deps.link(userId, linked);
  if (result.outcome === "refused") {
    throw new LinkCustomerError(`The database refused the link: ${result.reason}`);
  }
  return { outcome: result.outcome, setExternalId };
}

/**
 * The production dependencies, from the environment.
 *
 * @param env reads a variable
 * @returns dependencies for {@linkcode linkExistingCustomer}
 * @example
 * ```ts
 * const deps = createLinkCustomerDependencies((name) => Deno.env.get(name));
 * ```
 */
export function createLinkCustomerDependencies(env: EnvReader): LinkCustomerDependencies {
  const polar = createPolarClient(loadPolarConfig(env));
  const admin = createServerClient(readSupabaseUrl(env), readSupabaseKey(env, "secret"));
  const get = getCustomers(polar);
  const update = updateCustomers(polar);
  return {
    getCustomer: (id) => orNullOnNotFound(() => get(id)),
    getCustomerByExternalId: createPolarCustomerApi(polar).getByExternalId,
    setExternalId: (id, externalId) => update(id, { external_id: externalId }),
    link: (userId, customer, options) => linkPolarCustomer(admin, userId, customer, options),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      user: { type: "string" },
      customer: { type: "string" },
      "dry-run": { type: "boolean", default: false },
    },
  });
  if (!values.user || !values.customer) {
    console.error(
      "Usage: deno task link-customer --user <Supabase user id> --customer <Polar customer id> [--dry-run]",
    );
    Deno.exit(2);
  }
  try {
    const deps = createLinkCustomerDependencies((name) => Deno.env.get(name));
    const report = await linkExistingCustomer(deps, values.user, values.customer, {
      dryRun: values["dry-run"],
    });
    console.log(
      `${report.outcome}: Polar customer ${values.customer} and user ${values.user}` +
        (report.setExternalId ? " (Polar external_id set to the user id)" : ""),
    );
  } catch (error) {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    Deno.exit(1);
  }
}
