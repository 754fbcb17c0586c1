import { loadCheckoutFunctionConfig } from "../_shared/config.ts";
import { serve } from "../_shared/serve.ts";
import { createCheckoutDependencies, createCheckoutHandler } from "./handler.ts";

serve(
  createCheckoutHandler(
    createCheckoutDependencies(loadCheckoutFunctionConfig((name) => Deno.env.get(name))),
  ),
);
