/**
 * `deno task dev` as a user runs it in the background: it writes its pid file, shows each
 * function's log lines under the function's name, and `kill $(cat …/dev-stack.pid)` stops all of
 * it, function processes included.
 */
import assert from "node:assert/strict";

const DEV = new URL("./dev.ts", import.meta.url).pathname;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let attempt = 0; attempt < 1200; attempt++) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

Deno.test("dev stack: logs each function's lines by name and stops on kill of its pid file", async () => {
  const dir = await Deno.makeTempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", DEV],
    env: {
      API_PORT: "0",
      POLAR_PORT: "0",
      SITE_PORT: "0",
      STACK_INFO_DIR: dir,
      POLAR_METER_RECOMPUTE_DELAY_MS: "100",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const reading = (async () => {
    for await (const chunk of child.stdout) output += decoder.decode(chunk, { stream: true });
  })();
  const stderr = child.stderr.pipeTo(new WritableStream());
  try {
    const pid = await waitFor("the pid file", async () => {
      const text = await Deno.readTextFile(`${dir}/dev-stack.pid`);
      return text.trim() ? Number(text) : undefined;
    });
    assert.equal(pid, child.pid, "the file names the stack's own process");
    const info = JSON.parse(await Deno.readTextFile(`${dir}/dev-stack.json`));
    assert.match(info.publishable_key, /^sb_publishable_/);
    assert.match(info.secret_key, /^sb_secret_/);
    assert.ok(info.anon_key && info.service_role_key && info.product_id);
    assert.match(info.sync_secret, /^[0-9a-f]{64}$/);
    assert.deepEqual([info.meter, info.credit_units], ["ai_credits", 100]);
    assert.match(info.credit_product_id, /^[0-9a-f-]{36}$/);
    assert.notEqual(info.credit_product_id, info.product_id);
    // The stand-in's usage API: the meter dev-stack.json names is the one Polar lists.
    const meters = await fetch(`${info.polar_api_url}/v1/meters/`, {
      headers: { Authorization: "Bearer polar_oat_local_stand_in" },
    });
    assert.deepEqual((await meters.json()).items.map((m: { name: string }) => m.name), [
      info.meter,
    ]);

    const deletions = await fetch(`${info.api_url}/functions/v1/sync`, {
      method: "POST",
      headers: { Authorization: `Bearer ${info.sync_secret}`, "Content-Type": "application/json" },
      body: JSON.stringify({ scope: "deletions" }),
    });
    assert.deepEqual(await deletions.json(), {
      deleted: 0,
      absent: 0,
      failed: 0,
      teams: { seats_revoked: 0, members_deleted: 0, absent: 0, owners_kept: 0, failed: 0 },
    });

    const response = await fetch(`${info.api_url}/functions/v1/portal`, { method: "POST" });
    assert.equal(response.status, 401);
    await response.body?.cancel();
    await waitFor(
      "the portal's log line",
      () => Promise.resolve(/^\[portal\] \{.*"status":401/m.test(output) || undefined),
    );

    assert.ok(!output.includes(info.sync_secret), "the sync secret is never printed");
    Deno.kill(pid, "SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 0);
    await assert.rejects(Deno.stat(`${dir}/dev-stack.pid`), Deno.errors.NotFound);
    await assert.rejects(fetch(info.api_url), TypeError, "the API is gone");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already stopped */ }
    await child.status;
    await reading;
    await stderr;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dev stack against a real sandbox refuses to start without its webhook secret and product ids", async () => {
  const dir = await Deno.makeTempDir();
  const child = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", DEV],
    env: {
      API_PORT: "0",
      POLAR_PORT: "0",
      SITE_PORT: "0",
      STACK_INFO_DIR: dir,
      POLAR_ACCESS_TOKEN: "polar_oat_a_real_sandbox_token",
      POLAR_WEBHOOK_SECRET: "",
      POLAR_PRODUCT_IDS: "",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(dir, { recursive: true });
  assert.equal(child.code, 1);
  const said = new TextDecoder().decode(child.stderr);
  assert.match(said, /Local stack failed to start: POLAR_WEBHOOK_SECRET is required/);
  assert.match(said, /POLAR_PRODUCT_IDS is required with POLAR_ACCESS_TOKEN/);
  assert.doesNotMatch(said, /polar_oat_a_real_sandbox_token/, "the token is not shown");
});
