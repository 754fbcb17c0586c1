import assert from "node:assert/strict";
import { errors } from "@polar-sh/sdk/2026-10";
import { customerModel } from "../../../local/polar_models.ts";
import { insertUser } from "../tests/support/database.ts";
import { createTestSupabase } from "../tests/support/supabase_stand_in.ts";
import {
  createCustomerResolver,
  linkPolarCustomer,
  type LinkResult,
  type PolarCustomer,
  type PolarCustomerApi,
} from "./customer_link.ts";
import { HttpError } from "./http_error.ts";
import { createServerClient } from "./supabase.ts";

const USER = { id: crypto.randomUUID(), email: "ada@example.com", accessToken: "t" };

function taken(field: string, msg: string) {
  return new errors.HTTPValidationError(422, {
    detail: [{ loc: ["body", field], msg, type: "value_error" }],
  });
}

/** A resolver over scripted Polar answers, recording every call and link. */
function resolverWith(
  api: Partial<PolarCustomerApi>,
  linkResult: LinkResult = { outcome: "linked" },
) {
  const links: [string, PolarCustomer][] = [];
  const resolve = createCustomerResolver({
    polar: {
      getByExternalId: () => Promise.resolve(null),
      create: () => Promise.reject(new Error("unexpected create")),
      findIdByEmail: () => Promise.resolve(null),
      ...api,
    },
    link: (userId, customer) => {
      links.push([userId, customer]);
      return Promise.resolve(linkResult);
    },
  });
  return { resolve, links };
}

Deno.test("resolveCustomerId uses the customer a concurrent request created first", async () => {
  const winner = customerModel({ externalId: USER.id, email: USER.email });
  let lookups = 0;
  const { resolve, links } = resolverWith({
    getByExternalId: () => Promise.resolve(lookups++ === 0 ? null : winner),
    create: () =>
      Promise.reject(taken("external_id", "A customer with this external ID already exists.")),
  });
  assert.equal(await resolve(USER), winner.id);
  assert.deepEqual(links, [[USER.id, winner]]);
});

Deno.test("resolveCustomerId answers 409 naming the email's customer only in the cause", async () => {
  const { resolve, links } = resolverWith({
    create: () =>
      Promise.reject(taken("email", "A customer with this email address already exists.")),
    findIdByEmail: () => Promise.resolve("cus_holder"),
  });
  await assert.rejects(resolve(USER), (error: HttpError) => {
    assert.equal(error.status, 409);
    assert.equal(error.cause, "email already belongs to Polar customer cus_holder");
    assert.ok(!error.message.includes(USER.email));
    return true;
  });
  assert.deepEqual(links, []);
});

Deno.test("resolveCustomerId still answers 409 when the email's customer cannot be looked up", async () => {
  const { resolve } = resolverWith({
    create: () =>
      Promise.reject(taken("email", "A customer with this email address already exists.")),
    findIdByEmail: () => Promise.reject(new Error("Polar is down")),
  });
  await assert.rejects(resolve(USER), { status: 409 });
});

Deno.test("resolveCustomerId passes on Polar's other failures", async () => {
  const { resolve, links } = resolverWith({
    getByExternalId: () => Promise.reject(new Error("Polar API returned a server error")),
  });
  await assert.rejects(resolve(USER), /server error/);
  assert.deepEqual(links, []);
});

Deno.test("resolveCustomerId fails when the database refuses the link", async () => {
  const customer = customerModel({ externalId: USER.id });
  const { resolve } = resolverWith(
    { getByExternalId: () => Promise.resolve(customer) },
    { outcome: "refused", reason: "customer is linked to another user" },
  );
  await assert.rejects(resolve(USER), /was not linked .*: customer is linked to another user/);
});

/** linkPolarCustomer's real write: PostgREST on PGlite with the service role, two users. */
async function linkSetup() {
  const stand = await createTestSupabase();
  const admin = createServerClient(stand.url, stand.serviceRoleKey, { fetch: stand.fetch });
  const ada = await insertUser(stand.db);
  const bob = await insertUser(stand.db);
  const linkOf = async (user: string) =>
    (await stand.db.query<{ id: string | null; verified: boolean }>(
      "select polar_customer_id as id, polar_customer_verified as verified from public.user_subscriptions where user_id = $1",
      [user],
    ))[0] ?? null;
  return { admin, ada, bob, linkOf, [Symbol.asyncDispose]: () => stand[Symbol.asyncDispose]() };
}

Deno.test("linkPolarCustomer sends the customer's own external_id, so another user's customer is refused", async () => {
  await using t = await linkSetup();
  const bobs = customerModel({ externalId: t.bob });
  assert.deepEqual(await linkPolarCustomer(t.admin, t.ada, bobs), {
    outcome: "refused",
    reason: "identity conflict",
  });
  assert.deepEqual(await linkPolarCustomer(t.admin, t.ada, bobs, { dryRun: true }), {
    outcome: "refused",
    reason: "identity conflict",
  });
  const anonymous = customerModel({ externalId: null });
  assert.deepEqual(await linkPolarCustomer(t.admin, t.ada, anonymous), {
    outcome: "refused",
    reason: "identity conflict",
  });
  assert.equal(await t.linkOf(t.ada), null, "nothing stored for Ada");
  assert.equal(await t.linkOf(t.bob), null, "nor for Bob");
});

Deno.test("linkPolarCustomer links the user's own customer, and a dry run stores nothing", async () => {
  await using t = await linkSetup();
  const adas = customerModel({ externalId: t.ada });
  assert.deepEqual(await linkPolarCustomer(t.admin, t.ada, adas, { dryRun: true }), {
    outcome: "linked",
  });
  assert.equal(await t.linkOf(t.ada), null, "a dry run stores nothing");
  assert.deepEqual(await linkPolarCustomer(t.admin, t.ada, adas), { outcome: "linked" });
  assert.deepEqual(await t.linkOf(t.ada), { id: adas.id, verified: true });
  assert.deepEqual(await linkPolarCustomer(t.admin, t.ada, adas), { outcome: "unchanged" });
  const bobsInCapitals = customerModel({ externalId: t.bob.toUpperCase() });
  assert.deepEqual(await linkPolarCustomer(t.admin, t.bob, bobsInCapitals), { outcome: "linked" });
  assert.deepEqual(await t.linkOf(t.bob), { id: bobsInCapitals.id, verified: true });
  assert.deepEqual(await t.linkOf(t.ada), { id: adas.id, verified: true }, "Ada's link is hers");
});
