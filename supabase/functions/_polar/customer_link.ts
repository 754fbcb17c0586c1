/**
 * The caller's Polar customer, found or created by `external_id` (the Supabase user id) and
 * linked in the database before anything else happens, so that no checkout names a customer by
 * an email the buyer could edit, and no link ever points at a customer whose `external_id` is
 * not the user's id.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import {
  createCustomers,
  getExternalCustomers,
  listCustomers,
} from "@polar-sh/sdk/2026-10/services/customers";
import type { SupabaseClient } from "@supabase/supabase-js";
import type { VerifiedUser } from "./auth.ts";
import type { Deadline } from "./deadline.ts";
import { HttpError, STATUS } from "./http_error.ts";
import {
  isValidationErrorOn,
  orNullOnNotFound,
  polarCallOptions,
  type PolarCore,
} from "./polar.ts";

/** A Polar customer, as the API returns it. */
export type PolarCustomer = models.Customer;

/**
 * The customer calls the link needs; {@linkcode createPolarCustomerApi} makes them from the SDK.
 * Each takes the request's deadline, when there is one.
 */
export interface PolarCustomerApi {
  /** `GET /v1/customers/external/{external_id}`; `null` when Polar has no such customer. */
  getByExternalId(externalId: string, deadline?: Deadline): Promise<PolarCustomer | null>;
  /** `POST /v1/customers/`; throws Polar's 422 when the email or external id is taken. */
  create(body: { external_id: string; email: string }, deadline?: Deadline): Promise<PolarCustomer>;
  /** The id of the customer with this email, for the log of a conflict; `null` when none. */
  findIdByEmail(email: string, deadline?: Deadline): Promise<string | null>;
}

/** What `public.link_polar_customer` answered. */
export interface LinkResult {
  /** `linked` (stored now), `unchanged` (already stored) or `refused` (see `reason`). */
  outcome: "linked" | "unchanged" | "refused";
  /** Why a link was refused, such as `identity conflict`. */
  reason?: string;
}

/** Options of {@linkcode linkPolarCustomer}. */
export interface LinkOptions {
  /** Check only: answer what would happen and write nothing. */
  dryRun?: boolean;
  /** The request's deadline; the call is aborted when it passes. */
  deadline?: Deadline;
}

/** What {@linkcode createCustomerResolver} depends on. */
export interface CustomerResolverDependencies {
  /** Polar's customer endpoints. */
  polar: PolarCustomerApi;
  /** Stores the link (service role); see {@linkcode linkPolarCustomer}. */
  link: (userId: string, customer: PolarCustomer, deadline?: Deadline) => Promise<LinkResult>;
}

/** The answer to a user whose email another Polar customer already has. */
export const EMAIL_TAKEN_MESSAGE =
  "This email address already belongs to another billing account. Contact support to link it to your account";

/** The answer to a user whose token has no email, when a Polar customer must be created. */
export const EMAIL_REQUIRED_MESSAGE = "Add an email address to your account before subscribing";

/**
 * The calls of {@linkcode PolarCustomerApi}, made with the SDK's customer service.
 *
 * @param polar the core client
 * @returns the customer calls
 * @example
 * ```ts
 * const api = createPolarCustomerApi(createPolarClient(config.polar));
 * await api.getByExternalId(userId); // the customer, or null
 * ```
 */
export function createPolarCustomerApi(polar: PolarCore): PolarCustomerApi {
  const getExternal = getExternalCustomers(polar);
  const create = createCustomers(polar);
  const list = listCustomers(polar);
  return {
    getByExternalId: (externalId, deadline) =>
      orNullOnNotFound(() => getExternal(externalId, polarCallOptions(deadline))),
    create: (body, deadline) => create(body, polarCallOptions(deadline)),
    findIdByEmail: async (email, deadline) =>
      (await list({ email, limit: 1 }, polarCallOptions(deadline))).items[0]?.id ?? null,
  };
}

/**
 * Calls `public.link_polar_customer` through PostgREST with the service role.
 *
 * @param supabase a client made with the secret (service role) key
 * @param userId the user
 * @param customer the customer Polar returned for the user's external id
 * @param options `dryRun` to check without writing
 * @returns the database's answer
 * @throws {Error} when PostgREST answers an error or does not answer in time
 * @example
 * ```ts
 * await linkPolarCustomer(admin, user.id, customer); // { outcome: "linked" }
 * ```
 */
export async function linkPolarCustomer(
  supabase: SupabaseClient,
  userId: string,
  customer: PolarCustomer,
  options: LinkOptions = {},
): Promise<LinkResult> {
  const call = supabase.rpc("link_polar_customer", {
    user_id: userId,
    customer_id: customer.id,
    external_id: customer.external_id,
    customer_version: customer.modified_at ?? customer.created_at,
    dry_run: options.dryRun ?? false,
  });
  const { data, error } =
    await (options.deadline ? call.abortSignal(options.deadline.signal) : call);
  if (error) throw new Error(`link_polar_customer failed: ${error.message}`, { cause: error });
  if (!isLinkResult(data)) throw new Error("link_polar_customer returned an unexpected value");
  return data;
}

/**
 * Makes `resolveCustomerId`: the caller's Polar customer by external id, created when there is
 * none (with the token's email), then linked in the database, so the portal works before any
 * webhook arrives.
 *
 * A token without an email cannot create a customer (Polar requires one): 403. An email that
 * another Polar customer has: 409, nothing created or linked, and the other customer's id (never
 * the email) in the log line's cause. A customer created by a concurrent request of the same
 * user is found and used.
 *
 * @param deps Polar's customer calls and the link write
 * @returns `resolveCustomerId(user)`
 * @example
 * ```ts
 * const resolveCustomerId = createCustomerResolver({ polar: api, link: (id, c) => linkPolarCustomer(admin, id, c) });
 * await resolveCustomerId(user); // "992fae2a-…"
 * ```
 */
export function createCustomerResolver(
  deps: CustomerResolverDependencies,
): (user: VerifiedUser) => Promise<string> {
  const { polar } = deps;

  const create = async (user: VerifiedUser): Promise<PolarCustomer> => {
    if (!user.email) {
      throw new HttpError(STATUS.Forbidden, EMAIL_REQUIRED_MESSAGE, {
        cause: "token has no email",
      });
    }
    try {
      return await polar.create({ external_id: user.id, email: user.email }, user.deadline);
    } catch (error) {
      if (isValidationErrorOn(error, "external_id")) {
        // A concurrent request of this user created it first.
        const created = await polar.getByExternalId(user.id, user.deadline);
        if (created) return created;
      }
      if (isValidationErrorOn(error, "email")) {
        const holder = await polar.findIdByEmail(user.email, user.deadline).catch(() => null);
        throw new HttpError(STATUS.Conflict, EMAIL_TAKEN_MESSAGE, {
          cause: `email already belongs to Polar customer ${holder ?? "(not found)"}`,
        });
      }
      throw error;
    }
  };

  return async (user) => {
    const customer = await polar.getByExternalId(user.id, user.deadline) ?? await create(user);
    const result = await deps.link(user.id, customer, user.deadline);
    if (result.outcome === "refused") {
      throw new Error(
        `Polar customer ${customer.id} was not linked to user ${user.id}: ${result.reason}`,
      );
    }
    return customer.id;
  };
}

function isLinkResult(value: unknown): value is LinkResult {
  const outcome = (value as LinkResult | null)?.outcome;
  return outcome === "linked" || outcome === "unchanged" || outcome === "refused";
}
