/**
 * A thin stand-in for PostgREST at `/rest/v1`, enough for what this project and its example call
 * through supabase-js: reading a table with `select`, `eq`/`is` filters and `order` (as an array, or one
 * object with `Accept: application/vnd.pgrst.object+json`) and calling a function through
 * `/rpc/<name>` with named JSON arguments. Each request runs as PostgREST runs it: the role from
 * the verified token (`anon` without one), `request.jwt.claims` set, in one transaction, so RLS
 * and grants decide. Errors come back in PostgREST's shape (`code`, `message`, `details`, `hint`).
 *
 * @module
 */
import type { Database } from "./database.ts";

/** Options of {@linkcode createPostgrestHandler}. */
export interface PostgrestOptions {
  /** The database. */
  db: Database;
  /** Verifies a bearer token and returns its claims, or `null` when it is not valid. */
  verifyToken: (token: string) => Promise<Record<string, unknown> | null>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
const OBJECT_MEDIA_TYPE = "application/vnd.pgrst.object+json";

/**
 * Makes the handler for requests under `/rest/v1/`.
 *
 * @param options database and token verification
 * @returns a handler that expects paths starting with `/rest/v1/`
 * @example
 * ```ts
 * const rest = createPostgrestHandler({ db, verifyToken });
 * await rest(new Request("http://127.0.0.1/rest/v1/user_subscriptions?select=status"));
 * ```
 */
export function createPostgrestHandler(
  options: PostgrestOptions,
): (request: Request) => Promise<Response> {
  const { db, verifyToken } = options;
  return async (request) => {
    const url = new URL(request.url);
    const path = url.pathname.replace(/^\/rest\/v1\/?/, "");
    const token = request.headers.get("Authorization")?.match(/^Bearer (.+)$/)?.[1];
    const claims = token ? await verifyToken(token) : { role: "anon" };
    if (!claims) return pgrstError(401, "PGRST301", "JWT could not be verified");
    const as = { role: String(claims.role ?? "anon"), claims };

    try {
      if (path.startsWith("rpc/") && request.method === "POST") {
        const name = path.slice(4);
        if (!IDENTIFIER.test(name)) return pgrstError(404, "PGRST202", `Unknown function ${name}`);
        const args = await request.json().catch(() => null);
        if (typeof args !== "object" || args === null || Array.isArray(args)) {
          return pgrstError(400, "PGRST102", "Invalid body");
        }
        const names = Object.keys(args);
        if (!names.every((arg) => IDENTIFIER.test(arg))) {
          return pgrstError(400, "PGRST102", "Invalid argument name");
        }
        const call = names.map((arg, i) => `${arg} => $${i + 1}`).join(", ");
        const values = names.map((arg) => args[arg]);
        // A set-returning function answers a JSON array (of objects for `returns table`), as
        // PostgREST's does; any other answers its one value.
        const set = await returnsSet(db, name);
        if (set === undefined) {
          // PostgREST answers from its schema cache, before any SQL runs.
          return pgrstError(
            404,
            "PGRST202",
            `Could not find the function public.${name}(${names.join(", ")}) in the schema cache`,
          );
        }
        const sql = set
          ? `select coalesce(jsonb_agg(r), '[]') as result from public.${name}(${call}) as r`
          : `select public.${name}(${call}) as result`;
        const [row] = await db.query<{ result: unknown }>(sql, values, as);
        return Response.json(row?.result ?? null);
      }
      if (request.method === "GET" && IDENTIFIER.test(path)) {
        return await selectRows(db, path, url.searchParams, request.headers, as);
      }
      return pgrstError(
        404,
        "PGRST125",
        `Not supported by the local stand-in: ${request.method} ${path}`,
      );
    } catch (error) {
      return databaseError(error, as.role);
    }
  };
}

async function selectRows(
  db: Database,
  table: string,
  params: URLSearchParams,
  headers: Headers,
  as: { role: string; claims: Record<string, unknown> },
): Promise<Response> {
  const columns = (params.get("select") ?? "*").split(",").map((column) => column.trim());
  if (!columns.every((column) => column === "*" || IDENTIFIER.test(column))) {
    return pgrstError(400, "PGRST100", "Unsupported select");
  }
  const where: string[] = [];
  const values: unknown[] = [];
  for (const [column, filter] of params) {
    if (column === "select" || column === "limit" || column === "order") continue;
    if (!IDENTIFIER.test(column)) return pgrstError(400, "PGRST100", `Bad column ${column}`);
    if (filter.startsWith("eq.")) {
      values.push(filter.slice(3));
      where.push(`${column}::text = $${values.length}`);
    } else if (filter === "is.null") {
      where.push(`${column} is null`);
    } else {
      return pgrstError(400, "PGRST100", `Unsupported filter ${filter}`);
    }
  }
  const order = orderBy(params.get("order"));
  if (order === null) return pgrstError(400, "PGRST100", "Unsupported order");
  const limit = Number(params.get("limit") ?? 1000);
  const rows = await db.query(
    `select ${columns.join(", ")} from public.${table}` +
      (where.length ? ` where ${where.join(" and ")}` : "") +
      (order ? ` order by ${order}` : "") +
      ` limit ${Number.isInteger(limit) && limit >= 0 ? limit : 1000}`,
    values,
    as,
  );
  if (headers.get("Accept")?.includes(OBJECT_MEDIA_TYPE)) {
    if (rows.length !== 1) {
      return pgrstError(
        406,
        "PGRST116",
        "JSON object requested, multiple (or no) rows returned",
        `The result contains ${rows.length} rows`,
      );
    }
    return Response.json(rows[0]);
  }
  return Response.json(rows);
}

const ORDER_TERM = /^([a-z_][a-z0-9_]*)(?:\.(asc|desc))?(?:\.(nullsfirst|nullslast))?$/;

/**
 * PostgREST's `order=name.desc.nullslast,id` as SQL: `""` when absent, `null` when malformed.
 */
function orderBy(order: string | null): string | null {
  if (order === null || order === "") return "";
  const terms = order.split(",").map((term) => term.trim().match(ORDER_TERM));
  if (terms.some((term) => term === null)) return null;
  return terms.map((term) => {
    const [, column, direction, nulls] = term!;
    return [
      column,
      direction ?? "asc",
      nulls ? (nulls === "nullsfirst" ? "nulls first" : "nulls last") : "",
    ].filter(Boolean).join(" ");
  }).join(", ");
}

/** Whether `public.<name>` returns a set; false for an unknown name (the call then fails). */
/** Whether the public function returns a set; `undefined` when there is no such function. */
async function returnsSet(db: Database, name: string): Promise<boolean | undefined> {
  const [row] = await db.query<{ set: boolean | null }>(
    `select bool_or(p.proretset) as set from pg_catalog.pg_proc as p
      join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
      where n.nspname = 'public' and p.proname = $1`,
    [name],
  );
  return row?.set ?? undefined;
}

function databaseError(error: unknown, role: string): Response {
  const code = (error as { code?: string }).code ?? "";
  const message = (error as Error).message ?? String(error);
  const status = code === "42501"
    ? (role === "anon" ? 401 : 403)
    : code.startsWith("23")
    ? 409
    : code === "42883" || code === "42P01"
    ? 404
    : code.startsWith("22") || code === "P0001"
    ? 400
    : 500;
  return pgrstError(status, code || "PGRST000", message);
}

function pgrstError(status: number, code: string, message: string, details: string | null = null) {
  return Response.json({ code, message, details, hint: null }, { status });
}
