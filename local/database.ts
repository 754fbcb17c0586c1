/**
 * The database behind the local stack and the tests: PGlite (PostgreSQL in WASM) by default.
 * Queries run the way PostgREST runs them: in a transaction, as the role the caller's token
 * names, with `request.jwt.claims` set, so RLS policies decide.
 *
 * @module
 */
import { PGlite, type PGliteInterface, type Transaction } from "@electric-sql/pglite";
import { readSchemaFiles } from "./schema.ts";

/** Who a query runs as. */
export interface QueryAs {
  /** `anon`, `authenticated` or `service_role`. */
  role: string;
  /** The token's claims, readable through `auth.uid()` and `auth.jwt()`. */
  claims: Record<string, unknown>;
}

/** The roles a request may switch to, as PostgREST allows them. */
export const API_ROLES = ["anon", "authenticated", "service_role"] as const;

/** A database the local stack can query. */
export interface Database {
  /**
   * Runs one statement in its own transaction, as `as` says when given (else as the owner).
   *
   * @param sql the statement, with `$1`… placeholders
   * @param params the values
   * @param as the role and claims
   * @returns the rows
   */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], as?: QueryAs): Promise<T[]>;
  /** Runs a script of several statements as the owner. */
  exec(sql: string): Promise<void>;
  /** Closes the database. */
  close(): Promise<void>;
}

/**
 * Wraps a PGlite instance as a {@linkcode Database}.
 *
 * @param db the PGlite instance
 * @returns the database
 * @example
 * ```ts
 * const db = pgliteDatabase(await PGlite.create());
 * await db.query("select auth.uid() as id", [], { role: "authenticated", claims: { sub } });
 * ```
 */
export function pgliteDatabase(db: PGliteInterface): Database {
  return {
    query: <T>(sql: string, params: unknown[] = [], as?: QueryAs) =>
      db.transaction(async (tx) => {
        if (as) await switchRole(tx, as);
        return (await tx.query<T>(sql, params)).rows;
      }),
    exec: async (sql) => {
      await db.exec(sql);
    },
    close: () => db.close(),
  };
}

/**
 * Creates an in-memory PGlite with the bootstrap and every migration applied (and the seed,
 * unless `seed: false`).
 *
 * @param options whether to apply the seed
 * @returns the raw PGlite, to wrap with {@linkcode pgliteDatabase} or `clone()`
 * @example
 * ```ts
 * const db = pgliteDatabase(await createSchemaPglite());
 * ```
 */
export async function createSchemaPglite(options: { seed?: boolean } = {}): Promise<PGlite> {
  const db = await PGlite.create();
  for (const file of await readSchemaFiles(options)) {
    try {
      await db.exec(file.sql);
    } catch (error) {
      await db.close();
      throw new Error(`Applying ${file.name} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  return db;
}

async function switchRole(tx: Transaction, as: QueryAs): Promise<void> {
  if (!(API_ROLES as readonly string[]).includes(as.role)) {
    throw new Error(`Role "${as.role}" is not an API role`);
  }
  await tx.query("select set_config('request.jwt.claims', $1, true)", [JSON.stringify(as.claims)]);
  await tx.query("select set_config('role', $1, true)", [as.role]);
}
