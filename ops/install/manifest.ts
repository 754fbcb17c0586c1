/**
 * The manifest an install leaves in the target, `supabase/polar-billing.json`: which functions,
 * config sections and files it added (each file's SHA-256 as written) and which of this
 * project's migrations it installed under which name. The next run reads it to add only what is
 * new, to update only files nobody has changed since, and to know its own config sections.
 *
 * @module
 */

/** The manifest's path in the target. */
export const MANIFEST_PATH = "supabase/polar-billing.json";

/** One of this project's migrations as installed in the target. */
export interface InstalledMigration {
  /** Its name in this project (`20261124000100_user_subscriptions.sql`). */
  source: string;
  /** The SHA-256 of its SQL, hex. */
  sha256: string;
  /** Its file name in the target's `supabase/migrations/`. */
  installed_as: string;
}

/** What `supabase/polar-billing.json` holds. */
export interface Manifest {
  /** A sentence for whoever opens the file. */
  about: string;
  /** The functions installed. */
  functions: string[];
  /** The `[functions.<name>]` sections the install added to `config.toml`. */
  config_sections: string[];
  /** Each installed file's path in the target and the SHA-256 of what was written. */
  files: Record<string, string>;
  /** The migrations installed, in order. */
  migrations: InstalledMigration[];
}

/** The manifest's `about`. */
export const MANIFEST_ABOUT =
  "Written by Polar billing's `deno task install`, which reads it on the next run: it adds only new migrations and updates only files unchanged since they were installed. Keep it in version control; do not edit it.";

/**
 * SHA-256 of a text's UTF-8 bytes, hex.
 *
 * @param text the text
 * @returns 64 hex digits
 * @example
 * ```ts
 * await sha256Hex(""); // "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
 * ```
 */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Parses a manifest's text.
 *
 * @param text the file's text
 * @returns the manifest
 * @throws {Error} when it is not a manifest this command wrote
 * @example
 * ```ts
 * parseManifest(renderManifest(emptyManifest())).functions; // []
 * ```
 */
export function parseManifest(text: string): Manifest {
  const value = JSON.parse(text);
  const ok = value && typeof value === "object" && Array.isArray(value.functions) &&
    Array.isArray(value.config_sections) && value.files && typeof value.files === "object" &&
    Array.isArray(value.migrations) &&
    value.migrations.every((m: InstalledMigration) =>
      typeof m?.source === "string" && typeof m.sha256 === "string" &&
      typeof m.installed_as === "string"
    );
  if (!ok) throw new Error(`${MANIFEST_PATH} is not a manifest this command wrote`);
  return value as Manifest;
}

/**
 * A manifest with nothing installed.
 *
 * @returns the manifest
 * @example
 * ```ts
 * emptyManifest().migrations; // []
 * ```
 */
export function emptyManifest(): Manifest {
  return { about: MANIFEST_ABOUT, functions: [], config_sections: [], files: {}, migrations: [] };
}

/**
 * The manifest's text: keys in a fixed order and files sorted, so the same install writes the
 * same bytes.
 *
 * @param manifest the manifest
 * @returns JSON with two-space indents and a final line break
 * @example
 * ```ts
 * renderManifest(emptyManifest()).endsWith("}\n"); // true
 * ```
 */
export function renderManifest(manifest: Manifest): string {
  const files = Object.fromEntries(
    Object.entries(manifest.files).sort(([a], [b]) => a.localeCompare(b)),
  );
  return JSON.stringify(
    {
      about: MANIFEST_ABOUT,
      functions: [...manifest.functions].sort(),
      config_sections: [...manifest.config_sections].sort(),
      files,
      migrations: manifest.migrations.map(({ source, sha256, installed_as }) => ({
        source,
        sha256,
        installed_as,
      })),
    },
    null,
    2,
  ) + "\n";
}
