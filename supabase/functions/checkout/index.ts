import { loadCheckoutFunctionConfig } from "../_polar/config.ts";
import { serve } from "../_polar/serve.ts";
import { createCheckoutDependencies, createCheckoutHandler } from "./handler.ts";

serve("checkout", () =>
  createCheckoutHandler(
    createCheckoutDependencies(loadCheckoutFunctionConfig((name) => Deno.env.get(name))),
  ));
