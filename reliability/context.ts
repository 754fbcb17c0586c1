/**
 * The users every adversarial and fault case starts from: a member linked to a Polar customer the
 * fake knows, and a signed-in stranger without a subscription.
 *
 * @module
 */
import { insertUser, linkCustomer } from "../supabase/functions/tests/support/database.ts";
import type { CaseContext } from "./cases/http_case.ts";
import type { Harness } from "./harness.ts";

/**
 * Adds the member and the stranger.
 *
 * @param h the harness
 * @returns the context the cases use
 * @example
 * ```ts
 * const ctx = await createCaseContext(h);
 * ctx.member.customerId; // known to the Polar fake and stored in user_subscriptions
 * ```
 */
export async function createCaseContext(h: Harness): Promise<CaseContext> {
  const memberId = await insertUser(h.db);
  const customer = h.polar.addCustomer({ externalId: memberId });
  await linkCustomer(h.db, memberId, customer.id);
  const strangerId = await insertUser(h.db);
  return {
    h,
    member: { id: memberId, customerId: customer.id, token: await h.userToken(memberId) },
    stranger: { id: strangerId, token: await h.userToken(strangerId) },
  };
}
