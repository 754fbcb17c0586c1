/**
 * `deno task doctor --url <project url> --secret-key <sb_secret_…>`: asks the deployed `sync`
 * function to check the project's configuration from inside Supabase (`{"scope":"doctor"}`) and
 * prints one line per check: ✔, or ✗ with the fix in words. Exit codes: 0 every check passed, 1 a
 * check failed or the function could not answer, 2 usage.
 *
 * `--url` and `--secret-key` default to `SUPABASE_URL` and `SUPABASE_SECRET_KEY`. The key is
 * sent to the function only, never printed.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { DoctorCheck, DoctorReport } from "../supabase/functions/sync/doctor.ts";

/** What the doctor task needs. */
export interface DoctorTaskOptions {
  /** The project URL, such as `https://<ref>.supabase.co`. */
  url: string;
  /** A secret key of the project (or the sync secret): what opens sync's operator scopes. */
  secretKey: string;
}

/** A usage mistake; the message says what to pass. */
export class DoctorUsageError extends Error {
  /** @param message what is missing */
  constructor(message: string) {
    super(message);
    this.name = "DoctorUsageError";
  }
}

/**
 * Reads the command line, with the environment as the fallback.
 *
 * @param args the arguments after the task's name
 * @param env reads a variable
 * @returns the options
 * @throws {DoctorUsageError} when the URL or the key is missing, or the URL is not http(s)
 * @example
 * ```ts
 * parseDoctorArgs(["--url", "https://ref.supabase.co", "--secret-key", "sb_secret_x"], () => undefined);
 * // { url: "https://ref.supabase.co", secretKey: "sb_secret_x" }
 * ```
 */
export function parseDoctorArgs(
  args: string[],
  env: (name: string) => string | undefined,
): DoctorTaskOptions {
  const { values } = parseArgs({
    args,
    options: { url: { type: "string" }, "secret-key": { type: "string" } },
    strict: true,
  });
  const url = (values.url ?? env("SUPABASE_URL") ?? "").trim().replace(/\/+$/, "");
  const secretKey = (values["secret-key"] ?? env("SUPABASE_SECRET_KEY") ?? "").trim();
  if (!url || !/^https?:\/\//.test(url)) {
    throw new DoctorUsageError(
      "pass --url https://<project-ref>.supabase.co (or set SUPABASE_URL)",
    );
  }
  if (!secretKey) {
    throw new DoctorUsageError(
      "pass --secret-key sb_secret_… (Project Settings → API Keys), or set SUPABASE_SECRET_KEY",
    );
  }
  return { url, secretKey };
}

/**
 * Calls the deployed doctor.
 *
 * @param options the project URL and the key
 * @param fetchFn `fetch` (tests pass their own)
 * @returns the report, or an error in words when the function could not answer one
 * @example
 * ```ts
 * const answer = await callDoctor({ url, secretKey });
 * if ("report" in answer) console.log(formatReport(answer.report));
 * ```
 */
export async function callDoctor(
  options: DoctorTaskOptions,
  fetchFn: typeof fetch = fetch,
): Promise<{ report: DoctorReport } | { error: string }> {
  const endpoint = `${options.url}/functions/v1/sync`;
  let response: Response;
  try {
    response = await fetchFn(endpoint, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${options.secretKey}`,
        apikey: options.secretKey,
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ scope: "doctor" }),
      signal: AbortSignal.timeout(60_000),
    });
  } catch (error) {
    return { error: `could not reach ${endpoint} (${(error as Error).message})` };
  }
  const body = await response.json().catch(() => undefined) as
    | Partial<DoctorReport> & { error?: string }
    | undefined;
  if (response.ok && Array.isArray(body?.checks)) return { report: body as DoctorReport };
  const said = body?.error ? ` "${body.error}"` : "";
  switch (response.status) {
    case 401:
      return {
        error: `sync answered 401${said}: --secret-key is not a secret key of this project ` +
          "(Project Settings → API Keys → Secret keys)",
      };
    case 404:
      return {
        error: `there is no sync function at ${endpoint}: npx supabase functions deploy sync`,
      };
    case 400:
      return {
        error: `sync answered 400${said}: the deployed sync has no doctor yet; deploy this ` +
          "version: npx supabase functions deploy sync",
      };
    case 500:
      return {
        error: `sync answered 500${said}: its configuration is incomplete, or it failed; the ` +
          "first line of its log names every variable to fix (Dashboard → Edge Functions → " +
          "sync → Logs)",
      };
    default:
      return { error: `sync answered ${response.status}${said}` };
  }
}

/**
 * One line per check: `✔ name` (with what was found), or `✗ name: fix`.
 *
 * @param report the doctor's report
 * @returns the lines, and a last line saying how many failed
 * @example
 * ```ts
 * formatReport({ ok: false, checks: [{ name: "Webhook endpoint enabled", ok: false, fix: "re-enable it" }] });
 * // "✗ Webhook endpoint enabled: re-enable it\n\n1 of 1 checks failed"
 * ```
 */
export function formatReport(report: DoctorReport): string {
  const line = (check: DoctorCheck) =>
    check.ok
      ? `✔ ${check.name}${check.detail ? ` (${check.detail})` : ""}`
      : `✗ ${check.name}: ${check.fix ?? "failed"}${check.detail ? ` (${check.detail})` : ""}`;
  const failed = report.checks.filter((check) => !check.ok).length;
  return [
    ...report.checks.map(line),
    "",
    failed === 0
      ? `All ${report.checks.length} checks passed`
      : `${failed} of ${report.checks.length} checks failed`,
  ].join("\n");
}

if (import.meta.main) {
  let options: DoctorTaskOptions;
  try {
    options = parseDoctorArgs(Deno.args, (name) => Deno.env.get(name));
  } catch (error) {
    console.error(`doctor: ${(error as Error).message}`);
    console.error(
      "usage: deno task doctor --url https://<project-ref>.supabase.co --secret-key sb_secret_…",
    );
    Deno.exit(2);
  }
  const answer = await callDoctor(options);
  if ("error" in answer) {
    console.error(`✗ ${answer.error}`);
    Deno.exit(1);
  }
  console.log(formatReport(answer.report));
  Deno.exit(answer.report.ok ? 0 : 1);
}
