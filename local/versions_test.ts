/**
 * The PostgreSQL versions the project names agree with the ones it tests: `supabase/config.toml`'s
 * `major_version`, the server `.ci/run` installs, PGlite's own version, and what the README and
 * `docs/development.md` say.
 */
import assert from "node:assert/strict";
import { PGlite } from "@electric-sql/pglite";

const root = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, root));

Deno.test("config.toml, CI, PGlite and the docs name the same PostgreSQL versions", async () => {
  const configMajor = (await read("supabase/config.toml")).match(/^major_version = (\d+)$/m)?.[1];
  const ci = await read(".ci/run");
  const ciPackages = [...ci.matchAll(/postgresql-(\d+)\b/g)].map((match) => match[1]);
  const ciBinaries = [...ci.matchAll(/\/usr\/lib\/postgresql\/(\d+)\/bin/g)].map((match) =>
    match[1]
  );
  assert.ok(configMajor, "config.toml has a major_version");
  assert.deepEqual([...new Set([...ciPackages, ...ciBinaries])], [configMajor]);

  const pglite = new PGlite();
  const [{ server_version: version }] =
    (await pglite.query<{ server_version: string }>("show server_version")).rows;
  await pglite.close();
  const pgliteMajor = version.split(".")[0];

  const readme = await read("README.md");
  const development = await read("docs/development.md");
  for (const [name, text] of [["README.md", readme], ["docs/development.md", development]]) {
    assert.match(text, new RegExp(`PostgreSQL ${configMajor}\\b`), `${name} names CI's version`);
    assert.match(text, new RegExp(`PostgreSQL ${pgliteMajor}\\b`), `${name} names PGlite's`);
  }
});
