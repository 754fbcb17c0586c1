/**
 * Migrations in the target: the version to give each new one of ours (after the target's latest,
 * as `supabase migration new` dates by the clock), and what the migrations create, to find the
 * target's own migrations that create the same tables or functions before anything is written.
 *
 * @module
 */

/** A migration version: `YYYYMMDDHHMMSS`, as the Supabase CLI names migrations. */
const VERSION = /^(\d{14})_(.+\.sql)$/;

/** Something a migration creates, by its qualified name. */
export interface CreatedObject {
  /** `table`, `function` or `schema`. */
  kind: "table" | "function" | "schema";
  /** `public.user_subscriptions`, `public.has_entitlement`, `polar`. */
  name: string;
}

/**
 * Splits a migration's file name into its version and the rest.
 *
 * @param fileName `20261124000100_user_subscriptions.sql`
 * @returns `{ version, suffix }`, or `undefined` for a name the CLI would not apply
 * @example
 * ```ts
 * splitMigrationName("20261124000100_user_subscriptions.sql");
 * // { version: "20261124000100", suffix: "user_subscriptions.sql" }
 * ```
 */
export function splitMigrationName(
  fileName: string,
): { version: string; suffix: string } | undefined {
  const match = fileName.match(VERSION);
  return match ? { version: match[1], suffix: match[2] } : undefined;
}

/**
 * The versions for `count` new migrations: one second apart, the first after both `latest` and
 * `now`, so they sort after every migration the target has and read as when they were added.
 *
 * @param latest the target's latest version, if any
 * @param now the clock
 * @param count how many
 * @returns the versions, ascending
 * @example
 * ```ts
 * nextVersions("20270102000000", new Date("2026-12-01T12:00:00Z"), 2);
 * // ["20270102000001", "20270102000002"]
 * ```
 */
export function nextVersions(latest: string | undefined, now: Date, count: number): string[] {
  const clock = Math.floor(now.getTime() / 1000) * 1000;
  const after = latest === undefined ? -Infinity : versionTime(latest) + 1000;
  const first = Math.max(clock, after);
  return Array.from({ length: count }, (_, i) => formatVersion(first + i * 1000));
}

/**
 * The tables, functions and schemas a migration creates (`create table`, `create [or replace]
 * function`, `create schema`), with unqualified names taken as `public.`.
 *
 * @param sql the migration
 * @returns the objects, without duplicates
 * @example
 * ```ts
 * createdObjects("create table if not exists profiles (id uuid);");
 * // [{ kind: "table", name: "public.profiles" }]
 * ```
 */
export function createdObjects(sql: string): CreatedObject[] {
  const code = withoutSqlComments(sql);
  const name = String.raw`((?:"?[A-Za-z_][\w$]*"?\s*\.\s*)?"?[A-Za-z_][\w$]*"?)`;
  const patterns: [CreatedObject["kind"], RegExp][] = [
    [
      "table",
      new RegExp(
        String
          .raw`\bcreate\s+(?:(?:global\s+|local\s+)?(?:temp|temporary|unlogged)\s+)?table\s+(?:if\s+not\s+exists\s+)?${name}`,
        "gi",
      ),
    ],
    ["function", new RegExp(String.raw`\bcreate\s+(?:or\s+replace\s+)?function\s+${name}`, "gi")],
    ["schema", new RegExp(String.raw`\bcreate\s+schema\s+(?:if\s+not\s+exists\s+)?${name}`, "gi")],
  ];
  const found = new Map<string, CreatedObject>();
  for (const [kind, pattern] of patterns) {
    for (const match of code.matchAll(pattern)) {
      const parts = match[1].replaceAll('"', "").split(".").map((part) =>
        part.trim().toLowerCase()
      );
      const qualified = kind === "schema" || parts.length === 2
        ? parts.join(".")
        : `public.${parts[0]}`;
      found.set(`${kind} ${qualified}`, { kind, name: qualified });
    }
  }
  return [...found.values()];
}

/**
 * The `create trigger` statements on `auth.users`, by trigger name and what fires it.
 *
 * @param sql a migration
 * @returns each trigger's name and event (`after delete`, `after update of deleted_at`)
 * @example
 * ```ts
 * authUserTriggers("create trigger t after delete on auth.users for each row execute function f();");
 * // [{ name: "t", event: "after delete" }]
 * ```
 */
export function authUserTriggers(sql: string): { name: string; event: string }[] {
  const pattern =
    /\bcreate\s+(?:or\s+replace\s+)?trigger\s+(\w+)\s+((?:before|after|instead\s+of)\s+[^;]*?)\s+on\s+auth\.users\b/gi;
  return [...withoutSqlComments(sql).matchAll(pattern)].map((match) => ({
    name: match[1],
    event: match[2].replace(/\s+/g, " ").toLowerCase(),
  }));
}

/**
 * The `drop trigger` statements on `auth.users`.
 *
 * @param sql a migration
 * @returns the dropped triggers' names
 * @example
 * ```ts
 * droppedAuthUserTriggers("drop trigger old_one on auth.users;"); // ["old_one"]
 * ```
 */
export function droppedAuthUserTriggers(sql: string): string[] {
  return [
    ...withoutSqlComments(sql).matchAll(
      /\bdrop\s+trigger\s+(?:if\s+exists\s+)?(\w+)\s+on\s+auth\.users\b/gi,
    ),
  ]
    .map((match) => match[1]);
}

function versionTime(version: string): number {
  const [y, mo, d, h, mi, s] = [0, 4, 6, 8, 10, 12].map((at, i) =>
    Number(version.slice(at, at + (i === 0 ? 4 : 2)))
  );
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

function formatVersion(time: number): string {
  return new Date(time).toISOString().replace(/[-:T]/g, "").slice(0, 14);
}

function withoutSqlComments(sql: string): string {
  return sql.replace(/--.*$/gm, "").replace(/\/\*[\s\S]*?\*\//g, " ");
}
