/**
 * Teams and seats under concurrent changes and shuffled delivery, on the local stack over a
 * fresh database of a PostgreSQL server (`DATABASE_URL`):
 *
 * - shuffled: several teams, each driven at once through the Polar stand-in's team model (a team
 *   customer and its owner, the seat-based plan bought, members added, seats claimed at once or
 *   by invitation, revoked and reassigned (a revoked seat is reused), members removed and one
 *   added again, one team's subscription ended, one canceled at period end, one team customer
 *   deleted), a user in two teams; the stand-in's webhooks go to the real `polar-webhooks`,
 *   each once, 25% again under the same webhook-id, 30% again under a new one (Polar's resend),
 *   shuffled, 16 in flight, then the first version of every object once more (late old
 *   versions). Then, for every user and team, `has_team_entitlement(team, 'pro')` and
 *   `has_entitlement('pro')`, asked as that user (role `authenticated`, their claims), must equal
 *   the stand-in's final state: a claimed seat of a live subscription, held by a member not
 *   removed, with a granted `pro` benefit.
 * - a late revoke: a seat claimed by one member, revoked and reassigned to another (the same
 *   seat, Polar reuses it), every webhook delivered in order except the seat's revocation,
 *   which comes last (its `customer_id` is null): the new holder keeps the key, the old one has
 *   none.
 *
 * The team customers' own `customer.created` go first, as `checkout` stores the team and its
 * owner before any checkout (docs/teams.md).
 *
 * Run by `deno task test:reliability`; on its own:
 * `DATABASE_URL=postgresql://… deno test -A reliability/teams_suite.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { models } from "@polar-sh/sdk/2026-10";
import type { Database } from "../local/database.ts";
import { serveOnLoopback } from "../local/loopback.ts";
import { createPolarStandIn, type PolarStandIn, TEAM_PRODUCT_ID } from "../local/polar_stand_in.ts";
import { startStack } from "../local/stack.ts";
import { signWebhook } from "../local/webhook_signing.ts";
import { createFreshDatabase, serverUrl } from "./databases.ts";
import { SITE_URL } from "./harness.ts";
import { pool } from "./pool.ts";
import { figure, runCases } from "./report.ts";
import { replayableRandom, shuffled } from "./random.ts";

const TEAMS = 6;
const USERS_PER_TEAM = 5;
const SEATS = 4;
const DUPLICATE_SHARE = 0.25;
const RESENT_SHARE = 0.3;
const CONCURRENCY = 16;

/** One webhook the stand-in sent: its webhook-id, type and body. */
interface Sent {
  id: string;
  type: string;
  body: string;
}

/** A stand-in of its own, its webhooks collected for the suite to deliver as it likes. */
async function collectingStandIn(secret: string) {
  const sent: Sent[] = [];
  const collector = await serveOnLoopback(async (request) => {
    const body = await request.text();
    sent.push({ id: `msg_${crypto.randomUUID()}`, type: JSON.parse(body).type, body });
    return new Response(null, { status: 202 });
  });
  const polar = createPolarStandIn({
    baseUrl: "http://polar.suite",
    webhookUrl: collector.url,
    webhookSecret: secret,
  });
  const call = async (method: string, path: string, body?: unknown, expected = [200, 201, 204]) => {
    const response = await polar.handler(
      new Request(`http://polar.suite${path}`, {
        method,
        headers: { Authorization: "Bearer polar_oat_suite", "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
    const text = await response.text();
    assert.ok(expected.includes(response.status), `${method} ${path}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  return {
    polar,
    sent,
    call,
    close: async () => {
      polar.close();
      await collector.shutdown();
    },
  };
}

type Stand = Awaited<ReturnType<typeof collectingStandIn>>;

/** What the stand-in's final state says: does this user hold `pro` through this team? */
function holds(polar: PolarStandIn, teamCustomerId: string, userId: string): boolean {
  const team = polar.teams.get(teamCustomerId);
  if (!team || team.deleted_at !== null) return false;
  const member = polar.teamModel.memberByExternalId(team.id, userId);
  if (!member) return false;
  return [...polar.teamModel.seats.values()].some((seat) => {
    const subscription = polar.subscriptions.get(seat.subscription_id ?? "");
    return seat.status === "claimed" && seat.member_id === member.id &&
      subscription !== undefined && ["active", "trialing"].includes(subscription.status) &&
      [...polar.teamModel.grants.values()].some((grant) =>
        grant.is_granted && grant.member_id === member.id &&
        grant.subscription_id === subscription.id && grant.benefit.metadata.key === "pro"
      );
  });
}

/** The gates as the user asks them. */
async function gates(db: Database, userId: string, teamId: string) {
  const [row] = await db.query<{ team: boolean; any: boolean }>(
    "select public.has_team_entitlement($1::uuid, 'pro') as team, public.has_entitlement('pro') as any",
    [teamId],
    { role: "authenticated", claims: { sub: userId, role: "authenticated" } },
  );
  return row;
}

/** A team customer with its owner; the team id is the app's, a uuid. */
async function createTeam(stand: Stand, owner: string) {
  const teamId = crypto.randomUUID();
  const customer = await stand.call("POST", "/v1/customers/", {
    type: "team",
    external_id: teamId,
    name: `Team ${teamId.slice(0, 8)}`,
    owner: { email: `${owner}@owner.test`, external_id: owner },
  }) as models.CustomerTeam;
  return { teamId, customer };
}

/** Buys the seat-based plan on the stand-in's checkout page. */
async function buySeats(stand: Stand, customerId: string, seats: number) {
  const checkout = await stand.call("POST", "/v1/checkouts/", {
    products: [TEAM_PRODUCT_ID],
    customer_id: customerId,
    seats,
    success_url: `${SITE_URL}/done`,
  });
  const paid = await stand.polar.handler(
    new Request(`http://polar.suite/checkout/${checkout.client_secret}/pay`, { method: "POST" }),
  );
  assert.equal(paid.status, 303);
  return [...stand.polar.subscriptions.values()].find((s) => s.customer_id === customerId)!;
}

Deno.test("teams: every member's gates equal the stand-in's final state on PostgreSQL", async (t) => {
  const random = await replayableRandom("teams: shuffle seed");
  await using fresh = await createFreshDatabase(serverUrl());
  await using stack = await startStack({
    apiPort: 0,
    polarPort: 0,
    siteUrl: SITE_URL,
    databaseUrl: fresh.url,
  });
  const webhookUrl = `${stack.info.api_url}/functions/v1/polar-webhooks`;
  const refusals: string[] = [];
  const deliver = async ({ id, body }: { id: string; body: string }) => {
    const response = await fetch(webhookUrl, {
      method: "POST",
      body,
      headers: {
        ...(await signWebhook(body, stack.info.polar_webhook_secret, { id })),
        "Content-Type": "application/json",
      },
    });
    const answer = await response.text();
    if (response.status >= 300) refusals.push(`${response.status} ${answer.slice(0, 200)}`);
  };
  const addUsers = async (count: number, label: string) => {
    const ids = Array.from({ length: count }, () => crypto.randomUUID());
    for (const id of ids) {
      await stack.db.query("insert into auth.users (id, email) values ($1, $2)", [
        id,
        `${label}-${id.slice(0, 8)}@example.com`,
      ]);
    }
    return ids;
  };

  await runCases(t, "teams", [{
    name: `${TEAMS} teams of ${USERS_PER_TEAM + 1} users (one in two teams) changed at once: ` +
      `seats claimed, invited and claimed, revoked, reassigned, members removed and re-added, ` +
      `a subscription ended, one canceled at period end, a team deleted; webhooks shuffled, ` +
      `${DUPLICATE_SHARE * 100}% redelivered, ${RESENT_SHARE * 100}% resent, ` +
      `old versions late, ${CONCURRENCY} in flight`,
  }], async () => {
    refusals.length = 0;
    const stand = await collectingStandIn(stack.info.polar_webhook_secret);
    try {
      const shared = (await addUsers(1, "shared"))[0];
      const teams: {
        k: number;
        owner: string;
        users: string[];
        teamId: string;
        customer: models.CustomerTeam;
      }[] = [];
      for (let k = 0; k < TEAMS; k++) {
        const [owner, ...users] = await addUsers(USERS_PER_TEAM + 1, `team${k}`);
        teams.push({ k, owner, users, ...(await createTeam(stand, owner)) });
      }
      // What checkout stores before any checkout: each team and its owner, in order.
      const setup = stand.sent.splice(0);
      for (const type of ["customer.created", "member.created", "customer.state_changed"]) {
        for (const event of setup.filter((e) => e.type === type)) await deliver(event);
      }

      // Every team at once; within a team, its first seats at once too.
      await Promise.all(teams.map(async ({ k, owner, users, customer }) => {
        const subscription = await buySeats(stand, customer.id, SEATS);
        const members = [...users, ...(k < 2 ? [shared] : [])];
        await Promise.all(
          members.map((user) =>
            stand.call("POST", `/v1/customers/${customer.id}/members`, {
              email: `${user}@member.test`,
              external_id: user,
            })
          ),
        );
        const seat = (user: string, fields: Record<string, unknown> = { immediate_claim: true }) =>
          stand.call("POST", "/v1/customer-seats", {
            subscription_id: subscription.id,
            external_member_id: user,
            ...fields,
          }) as Promise<models.CustomerSeat>;
        const [first, invited] = await Promise.all([
          seat(users[0]),
          seat(users[1], { email: `${users[1]}@member.test` }),
          seat(users[2], { email: `${users[2]}@member.test` }), // pending: never claimed
          ...(k < 2 ? [seat(shared)] : []),
        ]);
        const token = [...stand.polar.teamModel.invitations].find(([, id]) =>
          id === invited.id
        )![0];
        await stand.call("POST", "/v1/customer-seats/claim", { invitation_token: token });
        // Revoked, then reassigned: the same seat for another member.
        await stand.call("DELETE", `/v1/customer-seats/${first.id}`);
        const reused = await seat(users[3]);
        assert.equal(reused.id, first.id);
        // A claimed member removed (seat and grant revoked), the free seat to the next one.
        await stand.call(
          "DELETE",
          `/v1/customers/external/${customer.external_id}/members/${users[1]}`,
        );
        await seat(users[4]);
        if (k === 2) {
          const session = await stand.call("POST", "/v1/customer-sessions/", {
            customer_id: customer.id,
            external_member_id: owner,
          });
          await stand.polar.handler(
            new Request(`http://polar.suite/portal/${session.token}/end`, { method: "POST" }),
          );
        }
        if (k === 3) {
          const session = await stand.call("POST", "/v1/customer-sessions/", {
            customer_id: customer.id,
            external_member_id: owner,
          });
          await stand.polar.handler(
            new Request(`http://polar.suite/portal/${session.token}/cancel`, { method: "POST" }),
          );
        }
        if (k === 4) await stand.call("DELETE", `/v1/customers/${customer.id}`);
        if (k === 5) {
          // Removed, added again (a new member for the same user) and seated again.
          await stand.call(
            "DELETE",
            `/v1/customers/${customer.id}/members/${
              stand.polar.teamModel.memberByExternalId(customer.id, users[3])!.id
            }`,
          );
          await stand.call("POST", `/v1/customers/${customer.id}/members`, {
            email: `${users[3]}@member.test`,
            external_id: users[3],
          });
          await seat(users[3]);
        }
      }));

      const events = stand.sent.splice(0);
      const duplicates = events.filter(() => random() < DUPLICATE_SHARE);
      const resent = events.filter(() => random() < RESENT_SHARE).map((event) => ({
        ...event,
        id: `msg_${crypto.randomUUID()}`,
      }));
      const deliveries = shuffled([...events, ...duplicates, ...resent], random);
      const began = performance.now();
      await pool(deliveries, CONCURRENCY, deliver);
      // Late old versions: each object's first event once more, under a new webhook-id.
      const firsts = new Map<string, Sent>();
      for (const event of [...setup, ...events]) {
        const data = JSON.parse(event.body).data;
        if (!firsts.has(data.id)) firsts.set(data.id, event);
      }
      const late = [...firsts.values()].map((event) => ({
        ...event,
        id: `msg_${crypto.randomUUID()}`,
      }));
      await pool(shuffled(late, random), CONCURRENCY, deliver);
      const seconds = (performance.now() - began) / 1000;

      const everyone = [
        ...new Set([shared, ...teams.flatMap((team) => [team.owner, ...team.users])]),
      ];
      let wrong = 0;
      let holders = 0;
      const mismatches: string[] = [];
      for (const user of everyone) {
        let anyTeam = false;
        for (const team of teams) {
          const expected = holds(stand.polar, team.customer.id, user);
          anyTeam ||= expected;
          if (expected) holders++;
          const got = await gates(stack.db, user, team.teamId);
          if (got.team !== expected) {
            wrong++;
            mismatches.push(
              `team ${team.k} user ${user.slice(0, 8)}: ${got.team}, want ${expected}`,
            );
          }
        }
        const got = await gates(stack.db, user, crypto.randomUUID());
        if (got.team !== false || got.any !== anyTeam) {
          wrong++;
          mismatches.push(`user ${user.slice(0, 8)}: has_entitlement ${got.any}, want ${anyTeam}`);
        }
      }
      await figure(
        "teams: events / deliveries (with redeliveries, resends, late old versions) / non-2xx / time",
        `${setup.length + events.length} / ${
          deliveries.length + late.length + setup.length
        } / ${refusals.length} / ${seconds.toFixed(1)} s`,
      );
      await figure(
        "teams: gates asked / wrong / (user, team) pairs holding pro",
        `${everyone.length * (TEAMS + 1)} / ${wrong} / ${holders}`,
      );
      assert.deepEqual(refusals, [], "every delivery answered 2xx");
      assert.ok(holders >= TEAMS, "the cases leave holders to check");
      assert.deepEqual(mismatches, [], "every gate equals the stand-in's final state");
    } finally {
      await stand.close();
    }
  });

  await runCases(t, "teams", [{
    name: "a deleted team's old versions delivered again after its customer.deleted: no access",
  }], async () => {
    refusals.length = 0;
    const stand = await collectingStandIn(stack.info.polar_webhook_secret);
    try {
      const [owner, ada] = await addUsers(2, "gone");
      const { teamId, customer } = await createTeam(stand, owner);
      const subscription = await buySeats(stand, customer.id, 1);
      await stand.call("POST", `/v1/customers/${customer.id}/members`, {
        email: `${ada}@member.test`,
        external_id: ada,
      });
      await stand.call("POST", "/v1/customer-seats", {
        subscription_id: subscription.id,
        external_member_id: ada,
        immediate_claim: true,
      });
      const lived = stand.sent.splice(0);
      const inOrder = [
        ...lived.filter((e) => e.type === "customer.created"),
        ...lived.filter((e) => e.type !== "customer.created"),
      ];
      for (const event of inOrder) await deliver(event);
      assert.deepEqual(await gates(stack.db, ada, teamId), { team: true, any: true });
      await stand.call("DELETE", `/v1/customers/${customer.id}`);
      for (const event of stand.sent.splice(0)) await deliver(event);
      assert.deepEqual(await gates(stack.db, ada, teamId), { team: false, any: false });
      // Polar's resend of the team's old events, in their first order, under new webhook-ids.
      for (const event of inOrder) await deliver({ ...event, id: `msg_${crypto.randomUUID()}` });
      assert.deepEqual(refusals, []);
      assert.equal(holds(stand.polar, customer.id, ada), false);
      assert.deepEqual(await gates(stack.db, ada, teamId), { team: false, any: false });
    } finally {
      await stand.close();
    }
  });

  await runCases(t, "teams", [{
    name: "a seat's revocation delivered last, after its reassignment: the new holder keeps pro",
  }], async () => {
    refusals.length = 0;
    const stand = await collectingStandIn(stack.info.polar_webhook_secret);
    try {
      const [owner, ada, bob] = await addUsers(3, "late");
      const { teamId, customer } = await createTeam(stand, owner);
      const subscription = await buySeats(stand, customer.id, 1);
      for (const user of [ada, bob]) {
        await stand.call("POST", `/v1/customers/${customer.id}/members`, {
          email: `${user}@member.test`,
          external_id: user,
        });
      }
      const seat = (user: string) =>
        stand.call("POST", "/v1/customer-seats", {
          subscription_id: subscription.id,
          external_member_id: user,
          immediate_claim: true,
        });
      const first = await seat(ada);
      await stand.call("DELETE", `/v1/customer-seats/${first.id}`);
      assert.equal((await seat(bob)).id, first.id, "Polar reuses the revoked seat");
      const events = stand.sent.splice(0);
      const revoked = events.filter((e) => e.type === "customer_seat.revoked");
      assert.equal(revoked.length, 1);
      assert.equal(JSON.parse(revoked[0].body).data.customer_id, null);
      const ordered = [
        ...events.filter((e) => e.type === "customer.created"),
        ...events.filter((e) => e.type !== "customer.created" && e !== revoked[0]),
      ];
      for (const event of ordered) await deliver(event);
      await deliver(revoked[0]);
      assert.deepEqual(refusals, []);
      assert.equal(holds(stand.polar, customer.id, bob), true);
      assert.equal(holds(stand.polar, customer.id, ada), false);
      assert.deepEqual(await gates(stack.db, bob, teamId), { team: true, any: true });
      assert.deepEqual(await gates(stack.db, ada, teamId), { team: false, any: false });
    } finally {
      await stand.close();
    }
  });
});
