import assert from "node:assert/strict";
import { createCallerAccess } from "../_polar/caller.ts";
import type { RequestLog } from "../_polar/log.ts";
import { MAX_JSON_BODY_BYTES } from "../_polar/body.ts";
import { createTeamWorld, polarRefusal } from "../tests/support/teams.ts";
import {
  ALREADY_SEATED_MESSAGE,
  createSeatsHandler,
  MAY_NOT_MANAGE_SEATS_MESSAGE,
  NO_ACCOUNT_MESSAGE,
  NO_SEATS_SUBSCRIPTION_MESSAGE,
  seatsTakenMessage,
} from "./handler.ts";

/** The seats handler on the team world: real token checks, real SQL, Polar's in-memory model. */
async function setup() {
  const world = await createTeamWorld();
  const { stand } = world;
  const logs: RequestLog[] = [];
  const polar = world.polar.seatsApi();
  const handler = createSeatsHandler({
    config: { allowedOrigins: ["https://app.example.com"], restrictCorsOrigins: false },
    verifyUser: createCallerAccess({
      supabaseUrl: stand.url,
      supabasePublishableKey: stand.anonKey,
      authIssuer: stand.issuer,
      supabaseJwks: undefined,
    }, { fetch: stand.fetch }).verifyUser,
    mayBillTeam: world.mayBillTeam,
    store: world.store,
    polar,
    log: (line) => logs.push(line),
  });
  const call = (method: string, token: string | undefined, body?: unknown, query = "") => {
    const headers = new Headers();
    if (token) headers.set("Authorization", `Bearer ${token}`);
    if (body !== undefined) headers.set("Content-Type", "application/json");
    return handler(
      new Request(`http://localhost/functions/v1/seats${query}`, {
        method,
        headers,
        body: body === undefined
          ? undefined
          : typeof body === "string"
          ? body
          : JSON.stringify(body),
      }),
    );
  };
  const seatRow = async (seatId: string) =>
    (await stand.db.query<Record<string, unknown>>(
      "select team_id, polar_member_id, status, email from public.polar_team_seats where polar_seat_id = $1",
      [seatId],
    ))[0];
  return { ...world, handler, call, logs, seatRow };
}

async function assertError(response: Response, status: number, error: string | RegExp) {
  assert.equal(response.status, status);
  assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
  const body = await response.json();
  if (typeof error === "string") assert.deepEqual(body, { error });
  else assert.match(body.error, error);
}

/** A refusal changes nothing: no Polar write, the same stored rows. */
async function assertNothingChanged(t: Awaited<ReturnType<typeof setup>>, before: string) {
  assert.deepEqual(t.polar.writes, []);
  assert.equal(await t.snapshot(), before);
}

Deno.test("seats gives a seat to an app user by id, claimed at once, with the email Supabase has", async () => {
  await using t = await setup();
  const { olive, max } = t.users;
  const response = await t.call("POST", olive.token, {
    team_id: t.teams.a.id,
    user_id: max.id,
    // Ignored: who the seat goes to, and with which email, comes from the database.
    email: undefined,
    external_member_id: t.users.quinn.id,
    customer_id: t.teams.b.customer.id,
  });
  assert.equal(response.status, 201);
  const { seat } = await response.json();
  assert.equal(seat.status, "claimed");
  assert.equal(seat.user_id, max.id);
  assert.equal(seat.email, max.email);
  assert.ok(seat.claimed_at);
  assert.equal(seat.revoked_at, null);
  const [assigned] = [...t.polar.seats.values()].filter((s) => s.id === seat.id);
  assert.equal(assigned.member?.external_id, max.id);
  assert.equal(assigned.subscription_id, t.teams.a.subscriptionId);
  assert.deepEqual(t.polar.writes, ["POST /v1/customer-seats"]);
  const row = await t.seatRow(seat.id);
  assert.equal(row.team_id, t.teams.a.id);
  assert.equal(row.status, "claimed");
  const [member] = await t.stand.db.query<{ user_id: string }>(
    "select user_id from public.polar_team_members where polar_member_id = $1",
    [assigned.member_id],
  );
  assert.equal(member.user_id, max.id, "the member is stored with the seat, linked by external_id");
});

Deno.test("seats sends Polar exactly the user's id, Supabase's email and immediate_claim", async () => {
  await using t = await setup();
  const bodies: unknown[] = [];
  const api = t.polar.seatsApi();
  const handler = createSeatsHandler({
    config: { allowedOrigins: [], restrictCorsOrigins: false },
    verifyUser: createCallerAccess({
      supabaseUrl: t.stand.url,
      supabasePublishableKey: t.stand.anonKey,
      authIssuer: t.stand.issuer,
      supabaseJwks: undefined,
    }, { fetch: t.stand.fetch }).verifyUser,
    mayBillTeam: t.mayBillTeam,
    store: t.store,
    polar: { ...api, assign: (body, d) => (bodies.push(body), api.assign(body, d)) },
    log: () => {},
  });
  const post = (body: unknown) =>
    handler(
      new Request("http://x/seats", {
        method: "POST",
        headers: {
          Authorization: `Bearer ${t.users.olive.token}`,
          "Content-Type": "application/json",
        },
        body: JSON.stringify(body),
      }),
    );
  assert.equal((await post({ team_id: t.teams.a.id, user_id: t.users.max.id })).status, 201);
  assert.equal((await post({ team_id: t.teams.a.id, email: "OLIVE@example.com " })).status, 201);
  assert.deepEqual(bodies, [
    {
      subscription_id: t.teams.a.subscriptionId,
      external_member_id: t.users.max.id,
      email: t.users.max.email,
      immediate_claim: true,
    },
    {
      subscription_id: t.teams.a.subscriptionId,
      external_member_id: t.users.olive.id,
      email: t.users.olive.email,
      immediate_claim: false,
    },
  ]);
});

Deno.test("seats invites the app user with that confirmed email: pending until claimed", async () => {
  await using t = await setup();
  const response = await t.call("POST", t.users.olive.token, {
    team_id: t.teams.a.id,
    email: "Max@Example.com",
  });
  assert.equal(response.status, 201);
  const { seat } = await response.json();
  assert.equal(seat.status, "pending");
  assert.equal(seat.user_id, t.users.max.id);
  assert.equal(seat.email, t.users.max.email);
  assert.equal((await t.seatRow(seat.id)).status, "pending");
});

Deno.test("seats refuses an invitation to an email no confirmed account has, and calls nothing", async () => {
  await using t = await setup();
  for (const email of ["nobody@example.com", t.users.pia.email]) {
    const before = await t.snapshot();
    await assertError(
      await t.call("POST", t.users.olive.token, { team_id: t.teams.a.id, email }),
      404,
      NO_ACCOUNT_MESSAGE,
    );
    await assertNothingChanged(t, before);
  }
});

Deno.test("seats refuses a user id no user has, or a deleted user's, and calls nothing", async () => {
  await using t = await setup();
  await t.stand.db.query("update auth.users set deleted_at = now() where id = $1", [
    t.users.max.id,
  ]);
  for (const userId of [crypto.randomUUID(), t.users.max.id]) {
    const before = await t.snapshot();
    await assertError(
      await t.call("POST", t.users.olive.token, { team_id: t.teams.a.id, user_id: userId }),
      404,
      `No user ${userId}`,
    );
    await assertNothingChanged(t, before);
  }
});

Deno.test("seats is refused to anyone the app does not let bill the team, before anything is looked up", async () => {
  await using t = await setup();
  const { a, b } = t.teams;
  const seat = await t.polar.addSeat(
    b.subscriptionId,
    await t.polar.addMember(b.customer.id, t.users.max.id, t.users.max.email),
  );
  await t.apply("seat", seat);
  const cases: [string, string, unknown, string][] = [
    ["an app user in no team lists A", t.users.max.token, undefined, `?team_id=${a.id}`],
    ["B's biller lists A", t.users.quinn.token, undefined, `?team_id=${a.id}`],
    ["B's biller gives a seat of A", t.users.quinn.token, {
      team_id: a.id,
      user_id: t.users.max.id,
    }, ""],
    [
      "B's biller invites to A",
      t.users.quinn.token,
      { team_id: a.id, email: t.users.max.email },
      "",
    ],
    [
      "A's biller revokes B's seat in B",
      t.users.olive.token,
      { team_id: b.id, seat_id: seat.id },
      "",
    ],
    ["A's biller gives a seat of B", t.users.olive.token, {
      team_id: b.id,
      user_id: t.users.max.id,
    }, ""],
    ["A's biller lists B", t.users.olive.token, undefined, `?team_id=${b.id}`],
  ];
  for (const [name, token, body, query] of cases) {
    const before = await t.snapshot();
    const method = body === undefined
      ? "GET"
      : (body as { seat_id?: string }).seat_id
      ? "DELETE"
      : "POST";
    const response = await t.call(method, token, body, query);
    await assertError(response, 403, MAY_NOT_MANAGE_SEATS_MESSAGE).catch((error) => {
      throw new Error(`${name}: ${error.message}`);
    });
    await assertNothingChanged(t, before);
    assert.deepEqual(t.polar.calls, [], name);
  }
  assert.equal(t.polar.seats.get(seat.id)?.status, "claimed", "B's seat is untouched");
});

Deno.test("seats refuses a biller of team A who names team B's seat under team A: 404, nothing revoked", async () => {
  await using t = await setup();
  const { a, b } = t.teams;
  const seat = await t.polar.addSeat(
    b.subscriptionId,
    await t.polar.addMember(b.customer.id, t.users.max.id, t.users.max.email),
  );
  await t.apply("seat", seat);
  const before = await t.snapshot();
  await assertError(
    await t.call("DELETE", t.users.olive.token, { team_id: a.id, seat_id: seat.id }),
    404,
    `No seat ${seat.id} in this team`,
  );
  await assertNothingChanged(t, before);
  assert.equal(t.polar.seats.get(seat.id)?.status, "claimed");
  // The other side: B's own biller revokes it.
  const response = await t.call("DELETE", t.users.quinn.token, { team_id: b.id, seat_id: seat.id });
  assert.equal(response.status, 200);
  assert.equal((await response.json()).seat.status, "revoked");
});

Deno.test("seats revokes a seat of the team, and stores the revoked seat", async () => {
  await using t = await setup();
  const { a } = t.teams;
  const member = await t.polar.addMember(a.customer.id, t.users.max.id, t.users.max.email);
  await t.apply("member", member);
  const seat = await t.polar.addSeat(a.subscriptionId, member);
  await t.apply("seat", seat);
  const response = await t.call("DELETE", t.users.olive.token, { team_id: a.id, seat_id: seat.id });
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.seat.id, seat.id);
  assert.equal(body.seat.status, "revoked");
  assert.equal(body.seat.user_id, null);
  assert.ok(body.seat.revoked_at);
  assert.deepEqual(t.polar.writes, [`DELETE /v1/customer-seats/${seat.id}`]);
  const row = await t.seatRow(seat.id);
  assert.equal(row.status, "revoked", "the revoked seat is stored at once, before its webhook");
  assert.equal(row.team_id, a.id);
});

Deno.test("seats refuses a seat id the database does not know, even one Polar has", async () => {
  await using t = await setup();
  const { a } = t.teams;
  // A seat of team A in Polar that no webhook stored yet: the check is the stored team's.
  const seat = await t.polar.addSeat(
    a.subscriptionId,
    await t.polar.addMember(a.customer.id, t.users.max.id, t.users.max.email),
  );
  for (const seatId of [crypto.randomUUID(), seat.id]) {
    const before = await t.snapshot();
    await assertError(
      await t.call("DELETE", t.users.olive.token, { team_id: a.id, seat_id: seatId }),
      404,
      `No seat ${seatId} in this team`,
    );
    await assertNothingChanged(t, before);
  }
});

Deno.test("seats answers 404 when the stored seat is gone from Polar", async () => {
  await using t = await setup();
  const { a } = t.teams;
  const seat = await t.polar.addSeat(
    a.subscriptionId,
    await t.polar.addMember(a.customer.id, t.users.max.id, t.users.max.email),
  );
  await t.apply("seat", seat);
  t.polar.seats.delete(seat.id);
  await assertError(
    await t.call("DELETE", t.users.olive.token, { team_id: a.id, seat_id: seat.id }),
    404,
    `No seat ${seat.id} in this team`,
  );
});

Deno.test("seats lists Polar's seats of the team's subscription and stores each", async () => {
  await using t = await setup();
  const { a } = t.teams;
  const member = await t.polar.addMember(a.customer.id, t.users.max.id, t.users.max.email);
  await t.apply("member", member);
  const seat = await t.polar.addSeat(a.subscriptionId, member);
  const response = await t.call("GET", t.users.olive.token, undefined, `?team_id=${a.id}`);
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.deepEqual(body, {
    seats: [{
      id: seat.id,
      status: "claimed",
      user_id: t.users.max.id,
      email: t.users.max.email,
      claimed_at: seat.claimed_at,
      revoked_at: null,
    }],
    total_seats: 3,
    available_seats: 2,
  });
  assert.deepEqual(t.polar.writes, []);
  assert.equal((await t.seatRow(seat.id)).status, "claimed", "the listed seat is stored");
});

Deno.test("seats takes user_id from a member's external_id only, never from the email", async () => {
  await using t = await setup();
  const { a } = t.teams;
  // An invitee Polar knows only by the email of an app user: no external_id, no user.
  const invitee = await t.polar.addMember(a.customer.id, null, t.users.max.email);
  await t.polar.addSeat(a.subscriptionId, invitee);
  const body = await (await t.call("GET", t.users.olive.token, undefined, `?team_id=${a.id}`))
    .json();
  assert.equal(body.seats[0].user_id, null);
  assert.equal(body.seats[0].email, t.users.max.email);
});

Deno.test("seats answers 404 for a team without an active or trialing subscription", async () => {
  await using t = await setup();
  const { a } = t.teams;
  const status = async (value: string, at: string) =>
    await t.apply("subscription", {
      id: a.subscriptionId,
      customer_id: a.customer.id,
      status: value,
      seats: 3,
      created_at: "2026-11-01T00:00:00Z",
      modified_at: at,
    });
  await status("canceled", "2026-11-02T00:00:00Z");
  for (
    const [method, body, query] of [
      ["GET", undefined, `?team_id=${a.id}`],
      ["POST", { team_id: a.id, user_id: t.users.max.id }, ""],
      ["POST", { team_id: a.id, email: t.users.max.email }, ""],
    ] as const
  ) {
    const before = await t.snapshot();
    await assertError(
      await t.call(method, t.users.olive.token, body, query),
      404,
      NO_SEATS_SUBSCRIPTION_MESSAGE,
    );
    await assertNothingChanged(t, before);
  }
  // The other side: trialing has seats.
  await status("trialing", "2026-11-03T00:00:00Z");
  const response = await t.call("POST", t.users.olive.token, {
    team_id: a.id,
    user_id: t.users.max.id,
  });
  assert.equal(response.status, 201);
});

Deno.test("seats refuses a seat when the stored seats are all taken, and gives the last one", async () => {
  await using t = await setup();
  const { b } = t.teams; // 2 seats
  const quinnMember = [...t.polar.members.values()].find((m) =>
    m.external_id === t.users.quinn.id
  )!;
  const first = await t.polar.addSeat(b.subscriptionId, quinnMember);
  await t.apply("seat", first);
  // One seat left: Max gets it.
  const last = await t.call("POST", t.users.quinn.token, {
    team_id: b.id,
    user_id: t.users.max.id,
  });
  assert.equal(last.status, 201);
  t.polar.writes.length = 0;
  const before = await t.snapshot();
  await assertError(
    await t.call("POST", t.users.quinn.token, { team_id: b.id, user_id: t.users.olive.id }),
    409,
    seatsTakenMessage(2),
  );
  await assertNothingChanged(t, before);
  // A revoked seat frees its place.
  const maxSeat = (await last.json()).seat.id;
  assert.equal(
    (await t.call("DELETE", t.users.quinn.token, { team_id: b.id, seat_id: maxSeat })).status,
    200,
  );
  const again = await t.call("POST", t.users.quinn.token, {
    team_id: b.id,
    user_id: t.users.olive.id,
  });
  assert.equal(again.status, 201);
  assert.equal((await again.json()).seat.id, maxSeat, "Polar reuses the revoked seat");
});

Deno.test("seats answers Polar's own 'No available seats' with the same 409", async () => {
  await using t = await setup();
  const { b } = t.teams;
  // Polar has both seats taken; the database has heard of none.
  for (const user of [t.users.quinn, t.users.olive]) {
    await t.polar.addSeat(
      b.subscriptionId,
      await t.polar.addMember(b.customer.id, user.id, user.email),
    );
  }
  await assertError(
    await t.call("POST", t.users.quinn.token, { team_id: b.id, user_id: t.users.max.id }),
    409,
    seatsTakenMessage(2),
  );
});

Deno.test("seats refuses a second seat for the same user, from the database and from Polar", async () => {
  await using t = await setup();
  const { a } = t.teams;
  const first = await t.call("POST", t.users.olive.token, {
    team_id: a.id,
    user_id: t.users.max.id,
  });
  assert.equal(first.status, 201);
  t.polar.writes.length = 0;
  const before = await t.snapshot();
  for (const body of [{ user_id: t.users.max.id }, { email: t.users.max.email }]) {
    await assertError(
      await t.call("POST", t.users.olive.token, { team_id: a.id, ...body }),
      409,
      ALREADY_SEATED_MESSAGE,
    );
    await assertNothingChanged(t, before);
  }
  // Polar knows a seat the database has not heard of: Olive's, in Polar only.
  const olive = [...t.polar.members.values()].find((m) => m.external_id === t.users.olive.id)!;
  await t.polar.addSeat(a.subscriptionId, olive);
  await assertError(
    await t.call("POST", t.users.olive.token, { team_id: a.id, user_id: t.users.olive.id }),
    409,
    ALREADY_SEATED_MESSAGE,
  );
});

Deno.test("seats maps Polar's SeatAlreadyAssigned to the contract's 409", async () => {
  await using t = await setup();
  const api = t.polar.seatsApi();
  const handler = createSeatsHandler({
    config: { allowedOrigins: [], restrictCorsOrigins: false },
    verifyUser: createCallerAccess({
      supabaseUrl: t.stand.url,
      supabasePublishableKey: t.stand.anonKey,
      authIssuer: t.stand.issuer,
      supabaseJwks: undefined,
    }, { fetch: t.stand.fetch }).verifyUser,
    mayBillTeam: t.mayBillTeam,
    store: t.store,
    polar: {
      ...api,
      assign: () =>
        Promise.reject(
          polarRefusal(
            400,
            "SeatAlreadyAssigned",
            "Seat already assigned to customer max@example.com",
          ),
        ),
    },
    log: () => {},
  });
  const response = await handler(
    new Request("http://x/seats", {
      method: "POST",
      headers: {
        Authorization: `Bearer ${t.users.olive.token}`,
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ team_id: t.teams.a.id, user_id: t.users.max.id }),
    }),
  );
  await assertError(response, 409, ALREADY_SEATED_MESSAGE);
});

Deno.test("seats answers every bad input with 400 and words, calling nothing", async (test) => {
  await using t = await setup();
  const { a } = t.teams;
  const token = t.users.olive.token;
  const cases: [string, string, unknown, string, RegExp][] = [
    ["no team_id", "GET", undefined, "", /^Missing team_id$/],
    [
      "a team_id that is no uuid",
      "GET",
      undefined,
      "?team_id=team-a",
      /^Invalid team_id "team-a": expected a UUID$/,
    ],
    ["malformed JSON", "POST", "{", "", /^Invalid JSON body$/],
    ["a body that is no object", "POST", "[1]", "", /^Invalid JSON body$/],
    ["no team_id in a body", "POST", { user_id: t.users.max.id }, "", /^Missing team_id$/],
    [
      "a numeric team_id",
      "POST",
      { team_id: 7, user_id: t.users.max.id },
      "",
      /^Invalid team_id 7: expected a UUID$/,
    ],
    [
      "both user_id and email",
      "POST",
      { team_id: a.id, user_id: t.users.max.id, email: t.users.max.email },
      "",
      /^Send user_id or email, not both$/,
    ],
    ["neither", "POST", { team_id: a.id }, "", /^Missing user_id or email$/],
    [
      "a user_id that is no uuid",
      "POST",
      { team_id: a.id, user_id: "max" },
      "",
      /^Invalid user_id "max": expected a UUID$/,
    ],
    [
      "an email that is none",
      "POST",
      { team_id: a.id, email: "max" },
      "",
      /^Invalid email "max": expected an email address$/,
    ],
    [
      "an email that is no string",
      "POST",
      { team_id: a.id, email: ["max@example.com"] },
      "",
      /^Invalid email/,
    ],
    ["no seat_id", "DELETE", { team_id: a.id }, "", /^Missing seat_id$/],
    [
      "a seat_id that is no uuid",
      "DELETE",
      { team_id: a.id, seat_id: "seat_1" },
      "",
      /^Invalid seat_id "seat_1": expected a UUID$/,
    ],
  ];
  for (const [name, method, body, query, error] of cases) {
    await test.step(name, async () => {
      const before = await t.snapshot();
      await assertError(await t.call(method, token, body, query), 400, error);
      await assertNothingChanged(t, before);
      assert.deepEqual(t.polar.calls, []);
    });
  }
});

Deno.test("seats refuses an oversized body with 413, a wrong method with 405, no token with 401", async () => {
  await using t = await setup();
  const big = JSON.stringify({ team_id: t.teams.a.id, pad: "x".repeat(MAX_JSON_BODY_BYTES) });
  const before = await t.snapshot();
  await assertError(await t.call("POST", t.users.olive.token, big), 413, /too large/);
  const put = await t.call("PUT", t.users.olive.token, { team_id: t.teams.a.id });
  await assertError(put, 405, "Method not allowed");
  assert.equal(put.headers.get("Allow"), "OPTIONS, GET, POST, DELETE");
  await assertError(
    await t.call("POST", undefined, { team_id: t.teams.a.id, user_id: t.users.max.id }),
    401,
    "Unauthorized",
  );
  await assertNothingChanged(t, before);
  assert.deepEqual(t.polar.calls, []);
});

Deno.test("seats asks polar_may_bill_team with the caller's token, not the service key", async () => {
  await using t = await setup();
  const before = t.stand.upstream.length;
  await t.call("GET", t.users.olive.token, undefined, `?team_id=${t.teams.a.id}`);
  const rpcs = t.stand.upstream.slice(before).filter((path) =>
    path.includes("polar_may_bill_team")
  );
  assert.equal(rpcs.length, 1);
  // Max is no biller: with the service key the app's rule (auth.uid() is null) would say no too,
  // so the answer for Olive proves the function saw Olive.
  assert.equal(
    await t.mayBillTeam({
      id: t.users.olive.id,
      email: undefined,
      accessToken: t.users.olive.token,
    }, t.teams.a.id),
    true,
  );
  assert.equal(
    await t.mayBillTeam(
      { id: t.users.max.id, email: undefined, accessToken: t.users.max.token },
      t.teams.a.id,
    ),
    false,
  );
  assert.equal(
    await t.mayBillTeam({
      id: t.users.olive.id,
      email: undefined,
      accessToken: t.users.olive.token,
    }, t.teams.b.id),
    false,
  );
});
