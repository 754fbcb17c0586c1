/**
 * The extension points an app replaces in its own migrations: this project creates each one
 * once, with `create function` (so an app's `create or replace` in a later migration is what
 * stays), and none of its later migrations replaces it, which would undo the app's rule.
 */
import assert from "node:assert/strict";

const MIGRATIONS = new URL("../migrations/", import.meta.url);

/** Functions an app replaces (docs/teams.md). */
const EXTENSION_POINTS = ["public.polar_may_bill_team"];

Deno.test("each extension point is created once and never replaced by this project", async () => {
  const files = [...Deno.readDirSync(MIGRATIONS)].map((entry) => entry.name).sort();
  for (const name of EXTENSION_POINTS) {
    const pattern = new RegExp(
      String.raw`create\s+(or\s+replace\s+)?function\s+${name.replace(".", String.raw`\.`)}\s*\(`,
      "gi",
    );
    const definitions: string[] = [];
    for (const file of files) {
      const sql = await Deno.readTextFile(new URL(file, MIGRATIONS));
      for (const match of sql.matchAll(pattern)) {
        definitions.push(`${file}: ${match[0].replace(/\s+/g, " ")}`);
      }
    }
    assert.equal(definitions.length, 1, `${name} is defined in: ${definitions.join("; ")}`);
    assert.doesNotMatch(definitions[0], /or replace/i, `${name} is created, never replaced`);
  }
});
