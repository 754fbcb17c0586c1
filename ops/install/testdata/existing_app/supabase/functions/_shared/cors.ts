// The app's own CORS headers, at the path Supabase's CORS guide tells apps to use.
export const corsHeaders = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Headers": "authorization, x-client-info, apikey, content-type",
};
