/**
 * Signing webhooks as Polar does (and the Standard Webhooks way): the local stack's, re-exported
 * for tests.
 *
 * @module
 */
export * from "../../../../local/webhook_signing.ts";
