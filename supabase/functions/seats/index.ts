import { loadCheckoutFunctionConfig } from "../_polar/config.ts";
import { serve } from "../_polar/serve.ts";
import { createSeatsDependencies, createSeatsHandler } from "./handler.ts";

serve("seats", () =>
  createSeatsHandler(
    createSeatsDependencies(loadCheckoutFunctionConfig((name) => Deno.env.get(name))),
  ));
