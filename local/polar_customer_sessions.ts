/**
 * Polar's `POST /v1/customer-sessions/` (API 2026-10) with the organization's member model on,
 * as the Polar stand-in and the tests' fake answer it: the customer by `customer_id` or
 * `external_customer_id` (422 "Customer does not exist." at that field otherwise), and for a
 * member session `member_id` or `external_member_id` (422 "Member does not exist for this
 * customer." at that field); a team customer needs one of them (422 at `member_id`). Checked
 * against Polar's server (`server/polar/customer_session/service.py`). The answer is Polar's
 * `CustomerSession`, the customer embedded.
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import type { CustomerFinder } from "./polar_members.ts";
import { PolarRefusal, type TeamModel, validationRefusal } from "./polar_teams.ts";

/** A session the portal page opens: whose, as which member, and where "back" goes. */
export interface PortalSession {
  /** The customer (individual or team). */
  customerId: string;
  /** The member of a member session, `null` for an individual's customer session. */
  memberId: string | null;
  /** The return URL. */
  returnUrl: string | null;
}

/**
 * Creates a customer or member session.
 *
 * @param body the request body
 * @param context how to find customers and members, where sessions are kept, the portal URL
 * @returns Polar's answer: 201 with the session, or 422
 * @example
 * ```ts
 * createCustomerSession({ external_customer_id: teamId, external_member_id: userId }, context).status; // 201
 * ```
 */
export function createCustomerSession(
  body: Record<string, unknown>,
  context: {
    findCustomer: CustomerFinder;
    teams: TeamModel;
    sessions: Map<string, PortalSession>;
    portalUrl: (token: string) => string;
  },
): Response {
  try {
    const byId = typeof body.customer_id === "string";
    const field = byId ? "customer_id" : "external_customer_id";
    const value = body[field];
    const customer = typeof value === "string"
      ? context.findCustomer(byId ? { id: value } : { externalId: value })
      : undefined;
    if (!customer) throw validationRefusal(["body", field], "Customer does not exist.", value);
    let member: models.Member | undefined;
    if (typeof body.member_id === "string" || typeof body.external_member_id === "string") {
      const memberField = typeof body.member_id === "string" ? "member_id" : "external_member_id";
      const ref = body[memberField] as string;
      member = memberField === "member_id"
        ? context.teams.liveMembers(customer.id).find((m) => m.id === ref)
        : context.teams.memberByExternalId(customer.id, ref);
      if (!member) {
        throw validationRefusal(
          ["body", memberField],
          "Member does not exist for this customer.",
          ref,
        );
      }
    } else if (customer.type === "team") {
      throw validationRefusal(["body", "member_id"], "member_id is required for team customers.");
    }
    const token = `polar_cst_${crypto.randomUUID().replaceAll("-", "")}`;
    const returnUrl = typeof body.return_url === "string" ? body.return_url : null;
    context.sessions.set(token, {
      customerId: customer.id,
      memberId: member?.id ?? null,
      returnUrl,
    });
    return Response.json(
      {
        created_at: new Date().toISOString(),
        modified_at: null,
        id: crypto.randomUUID(),
        token,
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
        return_url: returnUrl,
        customer_portal_url: context.portalUrl(token),
        customer_id: customer.id,
        customer,
      } satisfies models.CustomerSession,
      { status: 201 },
    );
  } catch (error) {
    if (error instanceof PolarRefusal) return error.response();
    throw error;
  }
}
