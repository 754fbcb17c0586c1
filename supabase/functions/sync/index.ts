import { loadSyncFunctionConfig } from "../_polar/config.ts";
import { serve } from "../_polar/serve.ts";
import { createSyncDependencies, createSyncHandler } from "./handler.ts";

serve(
  "sync",
  () =>
    createSyncHandler(createSyncDependencies(loadSyncFunctionConfig((name) => Deno.env.get(name)))),
);
