/**
 * The real `seats` function, started with `deno run` as a user would, on 127.0.0.1, against
 * loopback stand-ins of Supabase (JWKS, PostgREST on PGlite) and Polar (its team model).
 */
import assert from "node:assert/strict";
import {
  ALREADY_SEATED_MESSAGE,
  MAY_NOT_MANAGE_SEATS_MESSAGE,
  NO_ACCOUNT_MESSAGE,
  seatsTakenMessage,
} from "../seats/handler.ts";
import { createHttpTeamWorld } from "./support/team_http.ts";

async function assertError(response: Response, status: number, error: string) {
  assert.equal(response.status, status);
  assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
  assert.deepEqual(await response.json(), { error });
}

Deno.test("seats over HTTP gives a seat to an app user, lists it, and revokes it, storing each", async () => {
  await using t = await createHttpTeamWorld("seats");
  const { a } = t.teams;
  const { olive, max } = t.users;
  const given = await t.invoke("POST", olive.token, { team_id: a.id, user_id: max.id });
  assert.equal(given.status, 201);
  assert.equal(given.headers.get("Access-Control-Allow-Origin"), "*");
  const { seat } = await given.json();
  assert.deepEqual([seat.status, seat.user_id, seat.email], ["claimed", max.id, max.email]);
  const assign = t.polar.requests.find((r) => r.route === "POST /v1/customer-seats")!;
  assert.deepEqual(assign.body, {
    subscription_id: a.subscription.id,
    external_member_id: max.id,
    email: max.email,
    immediate_claim: true,
  });
  const [row] = await t.supabase.db.query<{ status: string; team_id: string }>(
    "select status, team_id from public.polar_team_seats where polar_seat_id = $1",
    [seat.id],
  );
  assert.deepEqual(row, { status: "claimed", team_id: a.id });

  const listed = await t.invoke("GET", olive.token, undefined, `?team_id=${a.id}`);
  assert.equal(listed.status, 200);
  const list = await listed.json();
  assert.deepEqual([list.total_seats, list.available_seats], [2, 1]);
  assert.deepEqual(list.seats.map((s: { id: string }) => s.id), [seat.id]);

  const revoked = await t.invoke("DELETE", olive.token, { team_id: a.id, seat_id: seat.id });
  assert.equal(revoked.status, 200);
  assert.equal((await revoked.json()).seat.status, "revoked");
  const [after] = await t.supabase.db.query<{ status: string }>(
    "select status from public.polar_team_seats where polar_seat_id = $1",
    [seat.id],
  );
  assert.equal(after.status, "revoked");
});

Deno.test("seats over HTTP invites the app user with a confirmed email: a pending seat", async () => {
  await using t = await createHttpTeamWorld("seats");
  const response = await t.invoke("POST", t.users.olive.token, {
    team_id: t.teams.a.id,
    email: "MAX@example.com",
  });
  assert.equal(response.status, 201);
  const { seat } = await response.json();
  assert.deepEqual([seat.status, seat.user_id], ["pending", t.users.max.id]);
  const assign = t.polar.requests.find((r) => r.route === "POST /v1/customer-seats")!;
  assert.equal(assign.body.email, t.users.max.email);
  assert.equal(assign.body.immediate_claim, false);
});

Deno.test("seats over HTTP refuses each thing the contract refuses, with words, changing nothing", async (test) => {
  await using t = await createHttpTeamWorld("seats");
  const { a, b } = t.teams;
  const { olive, quinn, max } = t.users;
  // A seat of team B, stored.
  const bSeat = await t.invoke("POST", quinn.token, { team_id: b.id, user_id: max.id });
  const bSeatId = (await bSeat.json()).seat.id;
  // Team A's two seats: Olive's own and Max's.
  for (const user of [olive, max]) {
    assert.equal(
      (await t.invoke("POST", olive.token, { team_id: a.id, user_id: user.id })).status,
      201,
    );
  }
  const cases: [string, () => Promise<Response>, number, string][] = [
    [
      "no token",
      () => t.invoke("GET", undefined, undefined, `?team_id=${a.id}`),
      401,
      "Unauthorized",
    ],
    [
      "a wrong method",
      () => t.invoke("PUT", olive.token, { team_id: a.id }),
      405,
      "Method not allowed",
    ],
    ["malformed JSON", () => t.invoke("POST", olive.token, "{"), 400, "Invalid JSON body"],
    [
      "a team_id that is no uuid",
      () => t.invoke("GET", olive.token, undefined, "?team_id=a"),
      400,
      'Invalid team_id "a": expected a UUID',
    ],
    [
      "both user_id and email",
      () => t.invoke("POST", olive.token, { team_id: a.id, user_id: max.id, email: max.email }),
      400,
      "Send user_id or email, not both",
    ],
    [
      "B's biller on team A",
      () => t.invoke("POST", quinn.token, { team_id: a.id, user_id: quinn.id }),
      403,
      MAY_NOT_MANAGE_SEATS_MESSAGE,
    ],
    [
      "an app user in no team",
      () => t.invoke("GET", max.token, undefined, `?team_id=${a.id}`),
      403,
      MAY_NOT_MANAGE_SEATS_MESSAGE,
    ],
    [
      "A's biller revoking B's seat under team A",
      () => t.invoke("DELETE", olive.token, { team_id: a.id, seat_id: bSeatId }),
      404,
      `No seat ${bSeatId} in this team`,
    ],
    [
      "A's biller revoking B's seat under team B",
      () => t.invoke("DELETE", olive.token, { team_id: b.id, seat_id: bSeatId }),
      403,
      MAY_NOT_MANAGE_SEATS_MESSAGE,
    ],
    [
      "an unknown user",
      () =>
        t.invoke("POST", quinn.token, {
          team_id: b.id,
          user_id: "00000000-0000-4000-8000-000000000000",
        }),
      404,
      "No user 00000000-0000-4000-8000-000000000000",
    ],
    [
      "an email no account has",
      () => t.invoke("POST", quinn.token, { team_id: b.id, email: "nobody@example.com" }),
      404,
      NO_ACCOUNT_MESSAGE,
    ],
    [
      "a second seat for Max in B",
      () => t.invoke("POST", quinn.token, { team_id: b.id, user_id: max.id }),
      409,
      ALREADY_SEATED_MESSAGE,
    ],
    [
      "a third seat in A",
      () => t.invoke("POST", olive.token, { team_id: a.id, user_id: quinn.id }),
      409,
      seatsTakenMessage(2),
    ],
  ];
  for (const [name, call, status, error] of cases) {
    await test.step(name, async () => {
      const before = await t.snapshot();
      t.polar.requests.length = 0;
      await assertError(await call(), status, error);
      assert.deepEqual(t.polarWrites(), [], "no Polar write");
      assert.equal(await t.snapshot(), before, "nothing stored");
    });
  }
});

Deno.test("seats over HTTP answers Polar's own 'No available seats' with the same 409", async () => {
  await using t = await createHttpTeamWorld("seats");
  const { b } = t.teams;
  // Both of B's seats taken in Polar, neither stored (their webhooks not delivered yet).
  for (const email of ["x1@example.com", "x2@example.com"]) {
    await t.polar.teamModel.assignSeat({ subscription_id: b.subscription.id, email });
  }
  const seats = [...t.polar.teamModel.seats.values()].filter((s) =>
    s.subscription_id === b.subscription.id && s.status !== "revoked"
  );
  assert.equal(seats.length, 2);
  await assertError(
    await t.invoke("POST", t.users.quinn.token, { team_id: b.id, user_id: t.users.max.id }),
    409,
    seatsTakenMessage(2),
  );
});
