// The app's own function: greets the caller.
import { corsHeaders } from "../_shared/cors.ts";

Deno.serve((request) => {
  if (request.method === "OPTIONS") return new Response("ok", { headers: corsHeaders });
  return Response.json({ message: "Hello" }, { headers: corsHeaders });
});
