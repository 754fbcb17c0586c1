/**
 * Polar's member routes (API 2026-10, the SDK's `customers.members` service), as the Polar
 * stand-in and the tests' fake answer them: `GET`/`POST /v1/customers/{id}/members`,
 * `GET`/`PATCH`/`DELETE /v1/customers/{id}/members/{member_id}`, and the same under
 * `/v1/customers/external/{external_id}/members[/{member_external_id}]`. Checked against
 * Polar's server (`server/polar/member/endpoints.py`): 404 `ResourceNotFound` "Customer not
 * found" / "Member not found", a list paged and sorted by `created_at` (filter `role`). The
 * rules are the team model's (`polar_teams.ts`).
 *
 * @module
 */
import type { models } from "@polar-sh/sdk/2026-10";
import { listPage, sortItems } from "./polar_pages.ts";
import { type AnyCustomer, polarError, PolarRefusal, type TeamModel } from "./polar_teams.ts";

/** Finds a live customer (individual or team) by id or by external id. */
export type CustomerFinder = (
  ref: { id: string } | { externalId: string },
) => AnyCustomer | undefined;

/**
 * The member routes.
 *
 * @param teams the team model
 * @param findCustomer finds the customer of the path
 * @returns the routes: an answer, or `undefined` when the request is not one of them
 * @example
 * ```ts
 * const routes = createPolarMemberRoutes(teams, find);
 * await routes({ method: "GET", url: new URL(`http://x/v1/customers/${team.id}/members`), body: {} });
 * ```
 */
export function createPolarMemberRoutes(
  teams: TeamModel,
  findCustomer: CustomerFinder,
): (
  request: { method: string; url: URL; body: Record<string, unknown> },
) => Promise<Response | undefined> {
  return async ({ method, url, body }) => {
    const match = url.pathname.match(
      /^\/v1\/customers\/(external\/)?([^/]+)\/members(?:\/([^/]+))?\/?$/,
    );
    if (!match) return undefined;
    const [, external, customerRef, memberRef] = match.map((part) =>
      part === undefined ? undefined : decodeURIComponent(part)
    );
    try {
      const customer = findCustomer(
        external ? { externalId: customerRef! } : { id: customerRef! },
      );
      if (memberRef === undefined) {
        if (!customer) throw polarError(404, "ResourceNotFound", "Customer not found");
        if (method === "GET") {
          const role = url.searchParams.get("role");
          const members = teams.liveMembers(customer.id).filter((m) => !role || m.role === role);
          return Response.json(
            listPage(
              url,
              sortItems(url, members, "created_at"),
            ) satisfies models.ListResourceMember,
          );
        }
        if (method === "POST") {
          return Response.json(await teams.createMember(customer, body), { status: 201 });
        }
        return undefined;
      }
      const member = customer
        ? external
          ? teams.memberByExternalId(customer.id, memberRef)
          : teams.liveMembers(customer.id).find((m) => m.id === memberRef)
        : undefined;
      if (!["GET", "PATCH", "DELETE"].includes(method)) return undefined;
      if (!member) throw polarError(404, "ResourceNotFound", "Member not found");
      if (method === "GET") return Response.json(member);
      if (method === "PATCH") return Response.json(await teams.updateMember(member, body));
      await teams.deleteMember(member);
      return new Response(null, { status: 204 });
    } catch (error) {
      if (error instanceof PolarRefusal) return error.response();
      throw error;
    }
  };
}
