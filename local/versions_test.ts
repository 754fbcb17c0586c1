/**
 * The PostgreSQL versions the project names agree with the ones it tests: `supabase/config.toml`'s
 * `major_version`, the server `.ci/run` installs, the two PGlites' own versions (the one the
 * stack and the tests use, and the PostgreSQL 17 one `supabase/tests/postgres17_test.ts` runs the
 * migrations and pgTAP files on), and what the README and `docs/development.md` say.
 */
import assert from "node:assert/strict";
import { PGlite } from "@electric-sql/pglite";
import { PGlite as PGlite17 } from "@electric-sql/pglite-17";

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

  const majorOf = async (pglite: PGlite | PGlite17) => {
    const [{ server_version: version }] =
      (await pglite.query<{ server_version: string }>("show server_version")).rows;
    await pglite.close();
    return version.split(".")[0];
  };
  const pgliteMajor = await majorOf(new PGlite());
  const pglite17Major = await majorOf(new PGlite17());
  assert.equal(pglite17Major, "17", "the @electric-sql/pglite-17 alias is PostgreSQL 17");
  const importMap = JSON.parse(await read("import_map.json")).imports;
  const pgliteVersions = [importMap["@electric-sql/pglite"], importMap["@electric-sql/pglite-17"]]
    .map((specifier: string) => specifier.match(/@(\d+\.\d+\.\d+)$/)?.[1]);

  const readme = await read("README.md");
  const development = await read("docs/development.md");
  for (const [name, text] of [["README.md", readme], ["docs/development.md", development]]) {
    assert.match(text, new RegExp(`PostgreSQL ${configMajor}\\b`), `${name} names CI's version`);
    assert.match(text, new RegExp(`PostgreSQL ${pgliteMajor}\\b`), `${name} names PGlite's`);
    assert.match(text, /PostgreSQL 17\b/, `${name} names PostgreSQL 17`);
  }
  for (const version of pgliteVersions) {
    assert.ok(version && development.includes(version), `development.md names PGlite ${version}`);
  }
});
