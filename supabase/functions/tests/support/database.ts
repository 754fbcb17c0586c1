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
 * Links a user to a Polar customer, as the webhooks would.
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
    "insert into public.user_subscriptions (user_id, polar_customer_id, status) values ($1, $2, 'active')",
    [userId, customerId],
  );
}

/**
 * Until the hardening migration (`20261201000100_hardening.sql`) is merged: a stand-in of its
 * `user_subscriptions.polar_customer_verified` column and `public.polar_unverified_links()`,
 * created only when the real ones are missing, so the reconcile's report can be tested.
 *
 * @param db the database
 * @example
 * ```ts
 * await installUnverifiedLinksStandIn(db);
 * ```
 */
export async function installUnverifiedLinksStandIn(db: Database): Promise<void> {
  await db.query(
    "alter table public.user_subscriptions add column if not exists polar_customer_verified boolean",
  );
  await db.query(`
    do $$ begin
      if to_regprocedure('public.polar_unverified_links()') is null then
        create function public.polar_unverified_links()
        returns table (user_id uuid, polar_customer_id text)
        language sql stable security definer set search_path = '' as $f$
          select s.user_id, s.polar_customer_id from public.user_subscriptions as s
          where s.polar_customer_id is not null and s.polar_customer_verified is false
          order by s.user_id;
        $f$;
        revoke all on function public.polar_unverified_links() from public, anon, authenticated;
        grant execute on function public.polar_unverified_links() to service_role;
      end if;
    end $$;
  `);
}
