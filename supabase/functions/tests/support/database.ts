/**
 * A fresh database for each test, cloned from one PGlite snapshot per test file that has the
 * bootstrap and every migration applied (creating PGlite takes seconds, a clone a fraction).
 *
 * @module
 */
import type { PGlite } from "@electric-sql/pglite";
import { createSchemaPglite, type Database, pgliteDatabase } from "../../../../local/database.ts";

let snapshot: Promise<PGlite> | undefined;

/**
 * A new database with the schema applied and no rows; close it at the end of the test.
 *
 * @returns the database
 * @example
 * ```ts
 * await using db = await createTestDatabase();
 * ```
 */
export async function createTestDatabase(): Promise<Database & AsyncDisposable> {
  snapshot ??= createSchemaPglite({ seed: false });
  const db = pgliteDatabase(await (await snapshot).clone());
  return { ...db, [Symbol.asyncDispose]: () => db.close() };
}

/**
 * Adds a user to `auth.users`.
 *
 * @param db the database
 * @param email the email; random by default
 * @returns the new user's id
 * @example
 * ```ts
 * const userId = await insertUser(db);
 * ```
 */
export async function insertUser(db: Database, email?: string): Promise<string> {
  const id = crypto.randomUUID();
  await db.query("insert into auth.users (id, email) values ($1, $2)", [
    id,
    email ?? `${id.slice(0, 8)}@example.com`,
  ]);
  return id;
}

/**
 * Links a user to a Polar customer, as checkout or the webhooks would (a verified link: the
 * customer's external_id is the user's id).
 *
 * @param db the database
 * @param userId the user
 * @param customerId the Polar customer id
 * @example
 * ```ts
 * await linkCustomer(db, userId, crypto.randomUUID());
 * ```
 */
export async function linkCustomer(db: Database, userId: string, customerId: string) {
  await db.query(
    "insert into public.user_subscriptions (user_id, polar_customer_id, polar_customer_verified, status) values ($1, $2, true, 'active')",
    [userId, customerId],
  );
}
