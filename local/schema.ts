/**
 * The SQL that makes a plain PostgreSQL look like this project's Supabase database: the
 * Supabase-compatible bootstrap, every migration in order, then the seed.
 *
 * @module
 */

const SUPABASE_DIR = new URL("../supabase/", import.meta.url);

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
  const migrationsDir = new URL("migrations/", SUPABASE_DIR);
  const migrations: string[] = [];
  for await (const entry of Deno.readDir(migrationsDir)) {
    if (entry.isFile && entry.name.endsWith(".sql")) migrations.push(entry.name);
  }
  migrations.sort();
  const paths = [
    "tests/bootstrap.sql",
    ...migrations.map((name) => `migrations/${name}`),
    ...(options.seed === false ? [] : ["seed.sql"]),
  ];
  return await Promise.all(paths.map(async (path) => ({
    name: `supabase/${path}`,
    sql: await Deno.readTextFile(new URL(path, SUPABASE_DIR)),
  })));
}
