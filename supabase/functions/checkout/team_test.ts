import assert from "node:assert/strict";
import { PolarClientError } from "@polar-sh/sdk";
import { createCallerAccess } from "../_polar/caller.ts";
import {
  createTeamCustomerResolver,
  EMAIL_IS_ANOTHER_MEMBER_MESSAGE,
  TEAM_EMAIL_REQUIRED_MESSAGE,
  TEAM_ID_IS_USER_MESSAGE,
} from "../_polar/team_customer.ts";
import { userClaims } from "../tests/support/keys.ts";
import { createTeamWorld, validationError } from "../tests/support/teams.ts";
import { type CheckoutCreate, createCheckoutHandler } from "./handler.ts";
import { MAY_NOT_BUY_SEATS_MESSAGE, TEAM_ALREADY_SUBSCRIBED_MESSAGE } from "./team.ts";

const PRODUCT = "7a0f6c3e-5f4e-4f57-9a43-2b1e8f7c9d10";
const SITE_URL = "https://app.example.com";
const CHECKOUT_URL = "https://sandbox.polar.sh/checkout/polar_c_team";

/** The checkout handler on the team world: real tokens and SQL, Polar's team model. */
async function setup(options: { allowMultiple?: boolean; checkoutError?: Error } = {}) {
  const world = await createTeamWorld();
  const { stand, polar } = world;
  const checkouts: CheckoutCreate[] = [];
  const handler = createCheckoutHandler({
    config: {
      siteUrl: SITE_URL,
      allowedOrigins: [SITE_URL],
      restrictCorsOrigins: false,
      productIds: [],
    },
    verifyUser: createCallerAccess({
      supabaseUrl: stand.url,
      supabasePublishableKey: stand.anonKey,
      authIssuer: stand.issuer,
      supabaseJwks: undefined,
    }, { fetch: stand.fetch }).verifyUser,
    resolveCustomerId: () => Promise.reject(new Error("a team checkout made a user's customer")),
    enforceSubscriptionRule: () => Promise.reject(new Error("a team checkout asked a user's rule")),
    createCheckout: (body) => {
      polar.writes.push("POST /v1/checkouts/");
      checkouts.push(structuredClone(body));
      return options.checkoutError
        ? Promise.reject(options.checkoutError)
        : Promise.resolve({ id: crypto.randomUUID(), url: CHECKOUT_URL });
    },
    team: {
      mayBillTeam: world.mayBillTeam,
      billingState: world.store.billingState,
      allowsMultipleSubscriptions: () => Promise.resolve(options.allowMultiple ?? false),
      resolveTeamCustomer: createTeamCustomerResolver({
        polar: polar.teamApi(),
        store: world.store,
      }),
    },
    log: () => {},
  });
  const call = (token: string | undefined, body: unknown) =>
    handler(
      new Request("http://localhost/functions/v1/checkout", {
        method: "POST",
        headers: {
          ...(token && { Authorization: `Bearer ${token}` }),
          "Content-Type": "application/json",
        },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    );
  /** A new team nobody has billed yet, which Olive may bill. */
  const newTeam = async () => {
    const id = crypto.randomUUID();
    await world.letBill(id, world.users.olive.id);
    return id;
  };
  const storedTeam = async (teamId: string) =>
    (await stand.db.query<{ polar_customer_id: string }>(
      "select polar_customer_id from public.polar_teams where team_id = $1",
      [teamId],
    ))[0]?.polar_customer_id;
  const storedMember = async (teamId: string, userId: string) =>
    (await stand.db.query<{ role: string }>(
      "select role from public.polar_team_members where team_id = $1 and user_id = $2",
      [teamId, userId],
    ))[0]?.role;
  return { ...world, handler, call, checkouts, newTeam, storedTeam, storedMember };
}

async function assertError(response: Response, status: number, error: string | RegExp) {
  assert.equal(response.status, status);
  assert.equal(response.headers.get("Access-Control-Allow-Origin"), "*");
  const body = await response.json();
  if (typeof error === "string") assert.deepEqual(body, { error });
  else assert.match(body.error, error);
}

Deno.test("a team's checkout creates the team customer with the caller as owner, stores it, and checks out by customer_id with seats", async () => {
  await using t = await setup();
  const teamId = await t.newTeam();
  const response = await t.call(t.users.olive.token, {
    product_id: PRODUCT,
    team_id: teamId.toUpperCase(),
    seats: 3,
    // Ignored: the customer is the team's, found by the team id.
    customer_id: t.teams.b.customer.id,
    external_customer_id: t.teams.b.id,
  });
  assert.equal(response.status, 200);
  assert.equal((await response.json()).url, CHECKOUT_URL);
  const customer = [...t.polar.customers.values()].find((c) => c.external_id === teamId)!;
  assert.equal(customer.type, "team");
  const owner = [...t.polar.members.values()].find((m) => m.customer_id === customer.id)!;
  assert.deepEqual([owner.external_id, owner.email, owner.role], [
    t.users.olive.id,
    t.users.olive.email,
    "owner",
  ]);
  assert.deepEqual(t.polar.writes, ["POST /v1/customers/", "POST /v1/checkouts/"]);
  assert.deepEqual(t.checkouts, [{
    products: [PRODUCT],
    success_url: `${SITE_URL}/?checkout_id={CHECKOUT_ID}`,
    metadata: { team_id: teamId },
    customer_id: customer.id,
    seats: 3,
  }]);
  assert.equal(await t.storedTeam(teamId), customer.id, "stored before any webhook");
  assert.equal(await t.storedMember(teamId, t.users.olive.id), "owner");
});

Deno.test("a team's checkout adds a biller who is not yet a member as billing_manager", async () => {
  // Team A has a live subscription: the organization allows several, to reach the checkout.
  await using u = await setup({ allowMultiple: true });
  await u.letBill(u.teams.a.id, u.users.max.id);
  const ok = await u.call(u.users.max.token, {
    product_id: PRODUCT,
    team_id: u.teams.a.id,
    seats: 5,
  });
  assert.equal(ok.status, 200);
  const member = [...u.polar.members.values()].find((m) => m.external_id === u.users.max.id)!;
  assert.deepEqual([member.customer_id, member.role, member.email], [
    u.teams.a.customer.id,
    "billing_manager",
    u.users.max.email,
  ]);
  assert.deepEqual(u.polar.writes, [
    `POST /v1/customers/${u.teams.a.customer.id}/members`,
    "POST /v1/checkouts/",
  ]);
  assert.equal(await u.storedMember(u.teams.a.id, u.users.max.id), "billing_manager");
  assert.equal(u.checkouts[0].customer_id, u.teams.a.customer.id);
});

Deno.test("a team's checkout uses the customer and member Polar already has, writing only the checkout", async () => {
  await using t = await setup({ allowMultiple: true });
  const response = await t.call(t.users.olive.token, {
    product_id: PRODUCT,
    team_id: t.teams.a.id,
    seats: 1,
  });
  assert.equal(response.status, 200);
  assert.deepEqual(t.polar.writes, ["POST /v1/checkouts/"]);
  assert.equal(t.checkouts[0].seats, 1);
});

Deno.test("a team's checkout resolves a concurrent double create by reading the team customer again", async () => {
  await using t = await setup();
  const teamId = await t.newTeam();
  // The other request's customer exists by the time this one's create is refused.
  const other = t.polar.addTeam(teamId);
  await t.polar.addMember(other.id, t.users.olive.id, t.users.olive.email, "owner");
  const api = t.polar.teamApi();
  let reads = 0;
  const resolve = createTeamCustomerResolver({
    polar: {
      ...api,
      getCustomer: (id, d) => (reads++ === 0 ? Promise.resolve(null) : api.getCustomer(id, d)),
      createTeamCustomer: () =>
        Promise.reject(
          validationError(
            ["body", "external_id"],
            "A customer with this external ID already exists.",
          ),
        ),
    },
    store: t.store,
  });
  const customerId = await resolve({
    id: t.users.olive.id,
    email: t.users.olive.email,
    accessToken: t.users.olive.token,
  }, teamId);
  assert.equal(customerId, other.id);
  assert.equal(reads, 2);
  assert.equal(await t.storedTeam(teamId), other.id);
});

Deno.test("a team's checkout is refused to anyone the app does not let bill the team, and changes nothing", async () => {
  await using t = await setup();
  const teamId = await t.newTeam(); // Olive's
  const cases: [string, string, string][] = [
    ["an app user in no team, for a new team", t.users.max.token, teamId],
    ["B's biller, for team A", t.users.quinn.token, t.teams.a.id],
    ["A's biller, for team B", t.users.olive.token, t.teams.b.id],
  ];
  for (const [name, token, team] of cases) {
    const before = await t.snapshot();
    await assertError(
      await t.call(token, { product_id: PRODUCT, team_id: team, seats: 2 }),
      403,
      MAY_NOT_BUY_SEATS_MESSAGE,
    ).catch((error) => {
      throw new Error(`${name}: ${error.message}`);
    });
    assert.equal(await t.snapshot(), before, name);
  }
  assert.deepEqual(t.polar.writes, []);
  assert.deepEqual(t.polar.calls, []);
});

Deno.test("a team's checkout refuses a second live subscription, from the stored ones, unless several are allowed", async () => {
  for (const status of ["active", "trialing"]) {
    await using t = await setup();
    const { a } = t.teams;
    await t.apply("subscription", {
      id: a.subscriptionId,
      customer_id: a.customer.id,
      status,
      seats: 3,
      created_at: "2026-11-01T00:00:00Z",
      modified_at: "2026-11-02T00:00:00Z",
    });
    await assertError(
      await t.call(t.users.olive.token, { product_id: PRODUCT, team_id: a.id, seats: 2 }),
      409,
      TEAM_ALREADY_SUBSCRIBED_MESSAGE,
    );
    assert.deepEqual(t.polar.writes, []);
  }
  // The other side: a canceled subscription does not count.
  await using t = await setup();
  await t.apply("subscription", {
    id: t.teams.a.subscriptionId,
    customer_id: t.teams.a.customer.id,
    status: "canceled",
    seats: 3,
    created_at: "2026-11-01T00:00:00Z",
    modified_at: "2026-11-02T00:00:00Z",
  });
  const response = await t.call(t.users.olive.token, {
    product_id: PRODUCT,
    team_id: t.teams.a.id,
    seats: 2,
  });
  assert.equal(response.status, 200);
});

Deno.test("a team's checkout answers Polar's own one-subscription refusal with the team's 409", async () => {
  await using t = await setup({
    checkoutError: new PolarClientError(
      403,
      JSON.stringify({
        error: "AlreadyActiveSubscriptionError",
        detail: "You already have an active subscription.",
      }),
    ),
  });
  const teamId = await t.newTeam();
  await assertError(
    await t.call(t.users.olive.token, { product_id: PRODUCT, team_id: teamId, seats: 2 }),
    409,
    TEAM_ALREADY_SUBSCRIBED_MESSAGE,
  );
});

Deno.test("a team's checkout refuses a team id that is a user's billing account, creating nothing", async () => {
  await using t = await setup();
  const teamId = await t.newTeam();
  t.polar.addIndividual(teamId);
  const before = await t.snapshot();
  await assertError(
    await t.call(t.users.olive.token, { product_id: PRODUCT, team_id: teamId, seats: 2 }),
    409,
    TEAM_ID_IS_USER_MESSAGE,
  );
  assert.deepEqual(t.polar.writes, []);
  assert.equal(await t.snapshot(), before);
  // A team id that is a user's id, even with no Polar customer yet.
  await t.letBill(t.users.max.id, t.users.olive.id);
  await assertError(
    await t.call(t.users.olive.token, { product_id: PRODUCT, team_id: t.users.max.id, seats: 2 }),
    409,
    TEAM_ID_IS_USER_MESSAGE,
  );
  assert.deepEqual(t.polar.writes, []);
  assert.deepEqual(t.polar.calls, [`GET customer ${teamId}`]);
});

Deno.test("a team's checkout refuses a caller whose token has no email, before anything", async () => {
  await using t = await setup();
  const teamId = await t.newTeam();
  // A phone sign-in: the token's email is empty.
  const token = await t.stand.keys.sign({
    ...userClaims({ issuer: t.stand.issuer, sub: t.users.olive.id }),
    email: "",
    phone: "15555550100",
  });
  await assertError(
    await t.call(token, { product_id: PRODUCT, team_id: teamId, seats: 2 }),
    400,
    TEAM_EMAIL_REQUIRED_MESSAGE,
  );
  assert.deepEqual(t.polar.calls, []);
  assert.deepEqual(t.polar.writes, []);
});

Deno.test("a team's checkout refuses a Polar member that is not the caller's (an email clash)", async () => {
  await using t = await setup({ allowMultiple: true });
  const { a } = t.teams;
  await t.letBill(a.id, t.users.max.id);
  // Polar answers "create" with the existing member of that email, linked to someone else.
  await t.polar.addMember(a.customer.id, crypto.randomUUID(), t.users.max.email);
  const response = await t.call(t.users.max.token, {
    product_id: PRODUCT,
    team_id: a.id,
    seats: 2,
  });
  await assertError(response, 409, EMAIL_IS_ANOTHER_MEMBER_MESSAGE);
  assert.ok(!t.polar.writes.includes("POST /v1/checkouts/"));
  assert.equal(await t.storedMember(a.id, t.users.max.id), undefined);
});

Deno.test("a team's checkout answers every bad team input with 400 and words, calling nothing", async (test) => {
  await using t = await setup();
  const teamId = await t.newTeam();
  const cases: [string, unknown, RegExp][] = [
    [
      "a team_id that is no uuid",
      { product_id: PRODUCT, team_id: "acme", seats: 2 },
      /^Invalid team_id "acme": expected a UUID$/,
    ],
    ["no seats", { product_id: PRODUCT, team_id: teamId }, /^Missing seats: /],
    [
      "zero seats",
      { product_id: PRODUCT, team_id: teamId, seats: 0 },
      /^Invalid seats 0: expected a whole number from 1 to 1000$/,
    ],
    ["1001 seats", { product_id: PRODUCT, team_id: teamId, seats: 1001 }, /^Invalid seats 1001: /],
    ["half a seat", { product_id: PRODUCT, team_id: teamId, seats: 2.5 }, /^Invalid seats 2\.5: /],
    ["seats as text", { product_id: PRODUCT, team_id: teamId, seats: "3" }, /^Invalid seats "3": /],
    ["seats without a team", { product_id: PRODUCT, seats: 3 }, /^seats needs a team_id$/],
    ["no product", { team_id: teamId, seats: 3 }, /^Missing product_id or products$/],
    ["malformed JSON", "{", /^Invalid JSON body$/],
  ];
  for (const [name, body, error] of cases) {
    await test.step(name, async () => {
      const before = await t.snapshot();
      await assertError(await t.call(t.users.olive.token, body), 400, error);
      assert.equal(await t.snapshot(), before);
      assert.deepEqual(t.polar.calls, []);
      assert.deepEqual(t.polar.writes, []);
    });
  }
  await assertError(
    await t.call(undefined, { product_id: PRODUCT, team_id: teamId, seats: 2 }),
    401,
    "Unauthorized",
  );
});
