/**
 * A PostgreSQL server as the local stack's database (`DATABASE_URL`), through postgres.js, with
 * the same per-request role switching as PGlite, and migrations applied once each, recorded in
 * `supabase_migrations.schema_migrations` as the Supabase CLI records them.
 *
 * @module
 */
import postgres from "postgres";
import type { Database, QueryAs } from "./database.ts";
import { API_ROLES } from "./database.ts";
import { readSchemaFiles } from "./schema.ts";

/**
 * Connects to the server.
 *
 * @param url a `postgresql://` URL
 * @returns the database
 * @example
 * ```ts
 * const db = postgresDatabase("postgresql://postgres@127.0.0.1:54329/postgres");
 * ```
 */
export function postgresDatabase(url: string): Database {
  const sql = postgres(url, { max: 10, onnotice: () => {}, idle_timeout: 20 });
  return {
    query: async <T>(text: string, params: unknown[] = [], as?: QueryAs) => {
      const rows = await sql.begin(async (tx) => {
        if (as) {
          if (!(API_ROLES as readonly string[]).includes(as.role)) {
            throw new Error(`Role "${as.role}" is not an API role`);
          }
          await tx`select set_config('request.jwt.claims', ${JSON.stringify(as.claims)}, true)`;
          await tx`select set_config('role', ${as.role}, true)`;
        }
        // deno-lint-ignore no-explicit-any
        return await tx.unsafe(text, params as any[]);
      });
      return [...rows] as T[];
    },
    exec: async (text) => {
      await sql.unsafe(text).simple();
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

/**
 * Brings a server's database up to date: the bootstrap (idempotent), each migration not yet
 * recorded, and the seed when any migration was new.
 *
 * @param db the database
 * @param options `until`: apply no migration newer than this version, and no seed (to stand up
 *   a database as an older release left it, then upgrade it)
 * @returns the names of the migrations applied now
 * @throws {Error} naming the file that failed
 * @example
 * ```ts
 * await migrate(postgresDatabase(url)); // ["20261124000100_user_subscriptions.sql", …]
 * ```
 */
export async function migrate(db: Database, options: { until?: string } = {}): Promise<string[]> {
  const files = await readSchemaFiles();
  const applied: string[] = [];
  await db.exec(`create schema if not exists supabase_migrations;
    create table if not exists supabase_migrations.schema_migrations (
      version text primary key, statements text[], name text)`);
  const done = new Set(
    (await db.query<{ version: string }>(
      "select version from supabase_migrations.schema_migrations",
    ))
      .map((row) => row.version),
  );
  for (const file of files) {
    const migration = file.name.match(/migrations\/(\d+)_(.+)\.sql$/);
    if (migration && done.has(migration[1])) continue;
    if (
      options.until && (migration ? migration[1] > options.until : !file.name.includes("bootstrap"))
    ) {
      continue;
    }
    if (file.name.endsWith("seed.sql") && applied.length === 0) continue;
    try {
      await db.exec(file.sql);
    } catch (error) {
      throw new Error(`Applying ${file.name} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (migration) {
      await db.query(
        "insert into supabase_migrations.schema_migrations (version, name) values ($1, $2)",
        [migration[1], migration[2]],
      );
      applied.push(file.name);
    }
  }
  return applied;
}

/**
 * postgres.js 3.4.9, the driver of the local stack's PostgREST stand-in (not of the functions),
 * may throw from a `setImmediate` when the server closes a connection under it: "Cannot read
 * properties of null (reading 'write')" (porsager/postgres#1154, #1208; unfixed in 3.4.9). That
 * crash is the stand-in's, not the functions': real PostgREST has its own pool. This absorbs
 * exactly that error (and counts it), so a database restart does not take the stack down, without
 * hiding any other error.
 *
 * @returns the count so far; dispose of it to stop absorbing
 * @example
 * ```ts
 * using crashes = absorbDriverNullSocketCrash();
 * crashes.count; // 0
 * ```
 */
export function absorbDriverNullSocketCrash(): { count: number } & Disposable {
  const absorbed = { count: 0 };
  const listener = (event: ErrorEvent) => {
    const error = event.error;
    if (
      error instanceof TypeError &&
      error.message === "Cannot read properties of null (reading 'write')" &&
      /postgres\/3\.4\.9\/src\/connection\.js/.test(error.stack ?? "")
    ) {
      absorbed.count++;
      event.preventDefault();
    }
  };
  globalThis.addEventListener("error", listener);
  return {
    get count() {
      return absorbed.count;
    },
    [Symbol.dispose]: () => globalThis.removeEventListener("error", listener),
  };
}
