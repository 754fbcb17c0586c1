import { loadSyncFunctionConfig } from "../_shared/config.ts";
import { serve } from "../_shared/serve.ts";
import { createSyncDependencies, createSyncHandler } from "./handler.ts";

serve(
  createSyncHandler(createSyncDependencies(loadSyncFunctionConfig((name) => Deno.env.get(name)))),
);
