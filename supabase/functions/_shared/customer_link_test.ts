import assert from "node:assert/strict";
import { errors } from "@polar-sh/sdk/2026-10";
import { customerModel } from "../../../local/polar_models.ts";
import {
  createCustomerResolver,
  type LinkResult,
  type PolarCustomer,
  type PolarCustomerApi,
} from "./customer_link.ts";
import { HttpError } from "./http_error.ts";

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
