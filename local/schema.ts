/**
 * The SQL that makes a plain PostgreSQL look like this project's Supabase database: the
 * Supabase-compatible bootstrap, every migration in order, the example app's own migrations
 * (`examples/web/supabase/migrations/`, as an app's would follow this project's), then the seed.
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url);
const MIGRATION_DIRS = ["supabase/migrations/", "examples/web/supabase/migrations/"];

/** One SQL file to apply. */
export interface SqlFile {
  /** Path relative to the repository, for messages. */
  name: string;
  /** The file's SQL. */
  sql: string;
}

/**
 * Reads the bootstrap, the migrations (sorted by their timestamp prefix) and, optionally, the seed.
 *
 * @param options `seed: false` leaves the seed out
 * @returns the files in the order to apply them
 * @example
 * ```ts
 * for (const file of await readSchemaFiles()) await db.exec(file.sql);
 * ```
 */
export async function readSchemaFiles(options: { seed?: boolean } = {}): Promise<SqlFile[]> {
  const migrations: string[] = [];
  for (const dir of MIGRATION_DIRS) {
    const names: string[] = [];
    for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
      if (entry.isFile && entry.name.endsWith(".sql")) names.push(`${dir}${entry.name}`);
    }
    migrations.push(...names.sort());
  }
  const paths = [
    "supabase/tests/bootstrap.sql",
    ...migrations,
    ...(options.seed === false ? [] : ["supabase/seed.sql"]),
  ];
  return await Promise.all(paths.map(async (path) => ({
    name: path,
    sql: await Deno.readTextFile(new URL(path, ROOT)),
  })));
}
