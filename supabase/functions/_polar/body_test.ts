import assert from "node:assert/strict";
import { MAX_JSON_BODY_BYTES, readJsonObject } from "./body.ts";
import { HttpError } from "./http_error.ts";

function post(body: BodyInit | null, contentType?: string): Request {
  const request = new Request("http://localhost/", { method: "POST", body });
  // `new Request` adds `text/plain` for a string body; set or remove the header as each case says.
  if (contentType === undefined) request.headers.delete("Content-Type");
  else request.headers.set("Content-Type", contentType);
  return request;
}

async function outcome(request: Request): Promise<unknown> {
  try {
    return await readJsonObject(request);
  } catch (error) {
    assert.ok(error instanceof HttpError, `expected an HttpError, got ${error}`);
    return `${error.status} ${error.message}`;
  }
}

const JSON_BODY = JSON.stringify({ return_url: "/account" });

Deno.test("readJsonObject accepts a JSON object under a JSON media type, or none", async (t) => {
  const cases: [string, Request, unknown][] = [
    ["application/json", post(JSON_BODY, "application/json"), { return_url: "/account" }],
    ["with a charset", post(JSON_BODY, "application/json; charset=utf-8"), {
      return_url: "/account",
    }],
    ["upper case", post(JSON_BODY, "Application/JSON"), { return_url: "/account" }],
    ["a +json type", post(JSON_BODY, "application/merge-patch+json"), { return_url: "/account" }],
    ["no Content-Type", post(JSON_BODY), { return_url: "/account" }],
    ["no body", post(null), {}],
    ["an empty body", post("", "application/json"), {}],
  ];
  for (const [name, request, expected] of cases) {
    await t.step(name, async () => assert.deepEqual(await outcome(request), expected));
  }
});

Deno.test("readJsonObject refuses what is not a JSON object sent as JSON", async (t) => {
  const unsupported = "415 Content-Type must be application/json";
  const invalid = "400 Invalid JSON body";
  const cases: [string, Request, string][] = [
    ["JSON sent as text/plain", post(JSON_BODY, "text/plain;charset=UTF-8"), unsupported],
    ["JSON sent as a form", post(JSON_BODY, "application/x-www-form-urlencoded"), unsupported],
    ["JSON sent as multipart", post(JSON_BODY, "multipart/form-data; boundary=x"), unsupported],
    ["a JSON-looking type", post(JSON_BODY, "application/jsonp"), unsupported],
    ["an array", post("[]", "application/json"), invalid],
    ["a number", post("42", "application/json"), invalid],
    ["null", post("null", "application/json"), invalid],
    ["truncated JSON", post('{"return_url":', "application/json"), invalid],
    [
      "a body over the limit",
      post(JSON.stringify({ pad: "x".repeat(MAX_JSON_BODY_BYTES) }), "application/json"),
      "413 Request body too large",
    ],
  ];
  for (const [name, request, expected] of cases) {
    await t.step(name, async () => assert.equal(await outcome(request), expected));
  }
});
