/**
 * Loopback servers and function processes: the local stack's, re-exported for tests.
 *
 * @module
 */
export * from "../../../../local/loopback.ts";
