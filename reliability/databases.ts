/**
 * PostgreSQL for the suites: a fresh database on a server (`DATABASE_URL`), migrated as the
 * local stack migrates, and dropped afterwards; and a throwaway cluster of our own, which the
 * fault suite may stop and restart without disturbing anyone else's database.
 *
 * @module
 */
import postgres from "postgres";
import type { Database } from "../local/database.ts";
import { freePort } from "../local/loopback.ts";
import { migrate, postgresDatabase } from "../local/postgres.ts";

/** A database made for one suite. */
export interface FreshDatabase extends AsyncDisposable {
  /** Its URL. */
  url: string;
  /** A connection pool to it. */
  db: Database;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/**
 * The server's URL from `DATABASE_URL`.
 *
 * @returns the URL
 * @throws {Error} when it is not set, with the command to run
 * @example
 * ```ts
 * const url = serverUrl(); // "postgresql://postgres@127.0.0.1:54329/postgres"
 * ```
 */
export function serverUrl(): string {
  const url = Deno.env.get("DATABASE_URL");
  if (!url) {
    throw new Error(
      "DATABASE_URL is not set: the reliability suite needs a PostgreSQL 15 server, e.g. " +
        "DATABASE_URL=postgresql://postgres@127.0.0.1:54329/postgres deno task test:reliability",
    );
  }
  return url;
}

/**
 * Creates `reliability_<random>` on the server, with the bootstrap and migrations applied.
 *
 * @param server a URL of any database on the server, with the right to create databases
 * @param options `until`: stop at this migration version (see `migrate`), to upgrade it later
 * @returns the database; `drop()` it at the end
 * @example
 * ```ts
 * await using fresh = await createFreshDatabase(serverUrl());
 * ```
 */
export async function createFreshDatabase(
  server: string,
  options: { until?: string } = {},
): Promise<FreshDatabase> {
  const name = `reliability_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const admin = postgres(server, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = new URL(server);
  url.pathname = `/${name}`;
  const db = postgresDatabase(url.href);
  const drop = async () => {
    await db.close().catch(() => {});
    const sql = postgres(server, { max: 1, onnotice: () => {} });
    try {
      await sql.unsafe(`drop database if exists ${name} with (force)`);
    } finally {
      await sql.end({ timeout: 5 });
    }
  };
  try {
    await migrate(db, options);
  } catch (error) {
    await drop();
    throw error;
  }
  return { url: url.href, db, drop, [Symbol.asyncDispose]: drop };
}

/** A PostgreSQL cluster in a temporary directory, owned by this suite. */
export interface ThrowawayCluster extends AsyncDisposable {
  /** `postgresql://postgres@127.0.0.1:<port>/postgres`. */
  url: string;
  /** Stops the server (fast shutdown: sessions are cut, as in a crash-free restart). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops it and deletes its directory. */
  destroy(): Promise<void>;
}

/** Where Debian's PostgreSQL 15 binaries are; `PG_BIN` overrides it. */
const DEFAULT_PG_BIN = "/usr/lib/postgresql/15/bin";

/**
 * Where {@linkcode startThrowawayCluster} takes PostgreSQL's binaries from, when they are there.
 *
 * @returns the directory (`PG_BIN`, else Debian's PostgreSQL 15), or `undefined` when it has no
 *   `initdb`
 * @example
 * ```ts
 * if (!(await postgresBinaries())) console.log("PostgreSQL 15: skipped");
 * ```
 */
export async function postgresBinaries(): Promise<string | undefined> {
  const bin = Deno.env.get("PG_BIN") ?? DEFAULT_PG_BIN;
  try {
    return (await Deno.stat(`${bin}/initdb`)).isFile ? bin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Initializes and starts a cluster on a free loopback port (or `THROWAWAY_PG_PORT`, for a machine where
 * each user keeps to a range of ports), with trust auth. As root it runs the
 * server as the `postgres` user (PostgreSQL refuses to run as root), else as the current user.
 *
 * @param settings more server settings (`-c name=value`), such as `shared_preload_libraries`
 * @returns the running cluster
 * @throws {Error} when `initdb` or `pg_ctl` fails, with their output
 * @example
 * ```ts
 * await using cluster = await startThrowawayCluster();
 * await cluster.stop();
 * await cluster.start();
 * ```
 */
export async function startThrowawayCluster(
  settings: Record<string, string> = {},
): Promise<ThrowawayCluster> {
  const bin = Deno.env.get("PG_BIN") ?? DEFAULT_PG_BIN;
  const asRoot = Deno.uid() === 0;
  const dir = await Deno.makeTempDir({ prefix: "reliability_pg_" });
  const data = `${dir}/data`;
  if (asRoot) await run(["chown", "postgres", dir]);
  const port = Number(Deno.env.get("THROWAWAY_PG_PORT")) || freePort();
  const asServerUser = (args: string[]) =>
    asRoot ? ["runuser", "-u", "postgres", "--", ...args] : args;
  await run(asServerUser([
    `${bin}/initdb`,
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=trust",
    "-E",
    "UTF8",
    "--no-sync",
  ]));
  const extra = Object.entries(settings).map(([name, value]) => ` -c ${name}=${value}`).join("");
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off${extra}`;
  const start = () =>
    run(asServerUser([
      `${bin}/pg_ctl`,
      "-D",
      data,
      "-w",
      "-l",
      `${dir}/server.log`,
      "-o",
      options,
      "start",
    ]));
  const stop = () => run(asServerUser([`${bin}/pg_ctl`, "-D", data, "-w", "-m", "fast", "stop"]));
  await start();
  const destroy = async () => {
    await stop().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    stop,
    start,
    destroy,
    [Symbol.asyncDispose]: destroy,
  };
}

async function run(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const output = await new Deno.Command(command, { args: rest, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    const decoder = new TextDecoder();
    throw new Error(
      `${args.join(" ")} failed:\n${decoder.decode(output.stdout)}${decoder.decode(output.stderr)}`,
    );
  }
}
