import { loadUserFunctionConfig } from "../_polar/config.ts";
import { serve } from "../_polar/serve.ts";
import { createPortalDependencies, createPortalHandler } from "./handler.ts";

serve("portal", () =>
  createPortalHandler(
    createPortalDependencies(loadUserFunctionConfig((name) => Deno.env.get(name))),
  ));
