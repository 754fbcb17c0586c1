/**
 * Test signing keys and tokens: the local stack's, re-exported for tests.
 *
 * @module
 */
export * from "../../../../local/keys.ts";
