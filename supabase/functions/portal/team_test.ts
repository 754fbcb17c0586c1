import assert from "node:assert/strict";
import { createCallerAccess } from "../_polar/caller.ts";
import { createTeamWorld } from "../tests/support/teams.ts";
import { createPortalHandler, NO_TEAM_BILLING_MESSAGE, NOT_A_MEMBER_MESSAGE } from "./handler.ts";

const SITE_URL = "https://app.example.com";

/** The portal handler on the team world: real tokens, Polar's team sessions modelled. */
async function setup() {
  const world = await createTeamWorld();
  const { stand, polar } = world;
  const sessions: { teamId: string; userId: string; returnUrl: string }[] = [];
  const handler = createPortalHandler({
    config: { siteUrl: SITE_URL, allowedOrigins: [SITE_URL], restrictCorsOrigins: false },
    ...createCallerAccess({
      supabaseUrl: stand.url,
      supabasePublishableKey: stand.anonKey,
      authIssuer: stand.issuer,
      supabaseJwks: undefined,
    }, { fetch: stand.fetch }),
    createPortalUrl: () => Promise.reject(new Error("a team portal asked for a user's portal")),
    createTeamPortalUrl: (teamId, userId, returnUrl) => {
      sessions.push({ teamId, userId, returnUrl });
      return polar.teamPortal(teamId, userId);
    },
    log: () => {},
  });
  const post = (token: string, body: unknown) =>
    handler(
      new Request("http://localhost/functions/v1/portal", {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      }),
    );
  const get = (token: string, query: string) =>
    handler(
      new Request(`http://localhost/functions/v1/portal${query}`, {
        headers: { Authorization: `Bearer ${token}` },
      }),
    );
  return { ...world, handler, post, get, sessions };
}

async function assertError(response: Response, status: number, error: string | RegExp) {
  assert.equal(response.status, status);
  assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
  const body = await response.json();
  if (typeof error === "string") assert.deepEqual(body, { error });
  else assert.match(body.error, error);
}

Deno.test("a team's portal is the caller's own member session: external_customer_id = team, external_member_id = caller", async () => {
  await using t = await setup();
  const { a } = t.teams;
  const response = await t.post(t.users.olive.token, {
    team_id: a.id.toUpperCase(),
    // Ignored: the member is the caller.
    external_member_id: t.users.quinn.id,
    user_id: t.users.quinn.id,
  });
  assert.equal(response.status, 200);
  assert.match((await response.json()).url, /^https:\/\/sandbox\.polar\.sh\/acme\/portal\?member=/);
  assert.deepEqual(t.sessions, [{ teamId: a.id, userId: t.users.olive.id, returnUrl: SITE_URL }]);
});

Deno.test("a team's portal takes team_id and return_url from the query of a GET", async () => {
  await using t = await setup();
  const returnUrl = `${SITE_URL}/team`;
  const response = await t.get(
    t.users.quinn.token,
    `?team_id=${t.teams.b.id}&return_url=${encodeURIComponent(returnUrl)}`,
  );
  assert.equal(response.status, 200);
  assert.deepEqual(t.sessions, [{ teamId: t.teams.b.id, userId: t.users.quinn.id, returnUrl }]);
});

Deno.test("a team's portal refuses a member of team A who asks for team B's portal", async () => {
  await using t = await setup();
  await assertError(
    await t.post(t.users.olive.token, { team_id: t.teams.b.id }),
    403,
    NOT_A_MEMBER_MESSAGE,
  );
  await assertError(
    await t.post(t.users.max.token, { team_id: t.teams.a.id }),
    403,
    NOT_A_MEMBER_MESSAGE,
  );
  // The other side: a plain member (no biller) of team A opens their own portal.
  await t.polar.addMember(t.teams.a.customer.id, t.users.max.id, t.users.max.email);
  assert.equal((await t.post(t.users.max.token, { team_id: t.teams.a.id })).status, 200);
});

Deno.test("a team's portal answers 404 when Polar has no customer for the team", async () => {
  await using t = await setup();
  await assertError(
    await t.post(t.users.olive.token, { team_id: crypto.randomUUID() }),
    404,
    NO_TEAM_BILLING_MESSAGE,
  );
});

Deno.test("a team's portal answers a bad team_id or return_url with 400, asking Polar nothing", async () => {
  await using t = await setup();
  const token = t.users.olive.token;
  await assertError(
    await t.post(token, { team_id: "team-a" }),
    400,
    'Invalid team_id "team-a": expected a UUID',
  );
  await assertError(
    await t.post(token, { team_id: 42 }),
    400,
    "Invalid team_id 42: expected a UUID",
  );
  await assertError(
    await t.get(token, "?team_id=nope"),
    400,
    'Invalid team_id "nope": expected a UUID',
  );
  await assertError(
    await t.post(token, { team_id: t.teams.a.id, return_url: "https://evil.example/" }),
    400,
    /return_url/,
  );
  assert.deepEqual(t.sessions, []);
});
