import assert from "node:assert/strict";
import { timingSafeEqual } from "node:crypto";
import { constantTimeEqual } from "./constant_time.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

/** A byte string that counts how many of its bytes were read. */
function counted(value: Uint8Array) {
  const read = new Set<number>();
  const proxy = new Proxy(value, {
    get(target, property) {
      if (typeof property === "string" && /^\d+$/.test(property)) read.add(Number(property));
      return Reflect.get(target, property);
    },
  });
  return { bytes: proxy, read };
}

Deno.test("constantTimeEqual answers as node:crypto's timingSafeEqual for equal lengths", () => {
  const secret = bytes("sb_secret_0123456789abcdef");
  const cases: [string, Uint8Array][] = [
    ["the same bytes", bytes("sb_secret_0123456789abcdef")],
    ["the first byte differs", bytes("Xb_secret_0123456789abcdef")],
    ["a middle byte differs", bytes("sb_secret_0123X56789abcdef")],
    ["the last byte differs", bytes("sb_secret_0123456789abcdeX")],
    ["every byte differs", new Uint8Array(secret.length).fill(0)],
  ];
  for (const [name, other] of cases) {
    assert.equal(constantTimeEqual(secret, other), timingSafeEqual(secret, other), name);
  }
  for (let i = 0; i < 200; i++) {
    const a = crypto.getRandomValues(new Uint8Array(8));
    const b = i % 2 ? a.slice() : crypto.getRandomValues(new Uint8Array(8));
    assert.equal(constantTimeEqual(a, b), timingSafeEqual(a, b));
  }
});

Deno.test("constantTimeEqual reads every byte whatever the first difference", () => {
  const secret = bytes("sb_secret_0123456789abcdef");
  for (const position of [0, 1, secret.length - 1]) {
    const other = secret.slice();
    other[position] ^= 0xff;
    const a = counted(secret);
    const b = counted(other);
    assert.equal(constantTimeEqual(a.bytes, b.bytes), false);
    assert.equal(a.read.size, secret.length, `a difference at byte ${position}: all of a read`);
    assert.equal(b.read.size, secret.length, `a difference at byte ${position}: all of b read`);
  }
});

Deno.test("constantTimeEqual answers false for different lengths, where timingSafeEqual throws", () => {
  assert.equal(constantTimeEqual(bytes("sb_secret"), bytes("sb_secret_longer")), false);
  assert.equal(constantTimeEqual(bytes("sb_secret_longer"), bytes("sb_secret")), false);
  assert.equal(constantTimeEqual(bytes(""), bytes("")), true);
  assert.equal(constantTimeEqual(bytes(""), bytes("x")), false);
});
