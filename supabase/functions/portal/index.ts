import { loadUserFunctionConfig } from "../_shared/config.ts";
import { serve } from "../_shared/serve.ts";
import { createPortalDependencies, createPortalHandler } from "./handler.ts";

serve(
  createPortalHandler(
    createPortalDependencies(loadUserFunctionConfig((name) => Deno.env.get(name))),
  ),
);
