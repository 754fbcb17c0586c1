/**
 * A service-role RPC over a direct database connection, answering as PostgREST does (a function's
 * JSON value; a set-returning function's rows as an array; `null` for `void`), so the benchmark
 * can run the sync function's reconcile against PostgreSQL without the API in between. Named
 * arguments are cast to the function's own parameter types.
 *
 * @module
 */
import type { Database } from "../local/database.ts";
import type { Rpc } from "../supabase/functions/sync/reconcile_wiring.ts";

interface Signature {
  names: string[];
  types: string[];
  returnsSet: boolean;
  returnsVoid: boolean;
}

/**
 * Makes the RPC.
 *
 * @param db the database, as its owner (security definer functions run as theirs anyway)
 * @returns the RPC
 * @example
 * ```ts
 * const rpc = createSqlRpc(db);
 * await rpc("begin_polar_reconcile", { resume_only: false }); // { id: 1, lease: "…", … }
 * ```
 */
export function createSqlRpc(db: Database): Rpc {
  const signatures = new Map<string, Promise<Signature>>();
  const signature = (name: string) => {
    if (!signatures.has(name)) {
      signatures.set(
        name,
        db.query<{ names: string[] | null; types: string[]; set: boolean; void: boolean }>(
          `select p.proargnames as names,
             array(select format_type(t, null) from unnest(p.proargtypes::oid[]) as t) as types,
             p.proretset as set, p.prorettype = 'void'::regtype as void
           from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace
           where n.nspname = 'public' and p.proname = $1`,
          [name],
        ).then(([row]) => {
          if (!row) throw new Error(`No function public.${name}`);
          return {
            names: row.names ?? [],
            types: row.types,
            returnsSet: row.set,
            returnsVoid: row.void,
          };
        }),
      );
    }
    return signatures.get(name)!;
  };
  return async <T>(name: string, args: Record<string, unknown> = {}): Promise<T> => {
    const sig = await signature(name);
    const params: unknown[] = [];
    const named = Object.entries(args).map(([arg, value]) => {
      const type = sig.types[sig.names.indexOf(arg)];
      if (!type) throw new Error(`public.${name} has no argument ${arg}`);
      params.push(type === "jsonb" && value !== null ? JSON.stringify(value) : value);
      // jsonb goes as text, so no driver encodes the JSON a second time.
      const cast = type === "jsonb" ? "::text::jsonb" : `::${type}`;
      return `${arg} => $${params.length}${cast}`;
    });
    const call = `public.${name}(${named.join(", ")})`;
    if (sig.returnsVoid) {
      await db.query(`select ${call}`, params);
      return null as T;
    }
    const sql = sig.returnsSet
      ? `select coalesce(jsonb_agg(to_jsonb(r)), '[]'::jsonb) as v from ${call} as r`
      : `select to_jsonb(${call}) as v`;
    const [row] = await db.query<{ v: T }>(sql, params);
    return row.v;
  };
}
