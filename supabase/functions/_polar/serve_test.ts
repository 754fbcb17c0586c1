import assert from "node:assert/strict";
import { serve } from "./serve.ts";

Deno.test("serve binds 127.0.0.1 when PORT is set, as under deno run and the local stack", async () => {
  Deno.env.set("PORT", "0");
  try {
    const server = serve(() => Promise.resolve(new Response("ok")));
    try {
      assert.equal((server.addr as Deno.NetAddr).hostname, "127.0.0.1");
    } finally {
      await server.shutdown();
    }
  } finally {
    Deno.env.delete("PORT");
  }
});

Deno.test("serve refuses a PORT that is not a port number", () => {
  Deno.env.set("PORT", "80a");
  try {
    assert.throws(() => serve(() => Promise.resolve(new Response("ok"))), /PORT is "80a"/);
  } finally {
    Deno.env.delete("PORT");
  }
});
