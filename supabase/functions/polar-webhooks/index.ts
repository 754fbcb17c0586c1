import { loadWebhookFunctionConfig } from "../_polar/config.ts";
import { serve } from "../_polar/serve.ts";
import { createPolarWebhookDependencies, createPolarWebhookHandler } from "./handler.ts";

serve("polar-webhooks", () =>
  createPolarWebhookHandler(
    createPolarWebhookDependencies(loadWebhookFunctionConfig((name) => Deno.env.get(name))),
  ));
