import { loadWebhookFunctionConfig } from "../_shared/config.ts";
import { serve } from "../_shared/serve.ts";
import { createPolarWebhookDependencies, createPolarWebhookHandler } from "./handler.ts";

serve(
  createPolarWebhookHandler(
    createPolarWebhookDependencies(loadWebhookFunctionConfig((name) => Deno.env.get(name))),
  ),
);
