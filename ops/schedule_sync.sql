-- =====================================================================================
-- Schedules the sync function with pg_cron and pg_net, Supabase's documented way to call
-- an Edge Function on a schedule. Run it once in the SQL editor (or with psql) after
-- storing the project URL and a secret key in Vault:
--
--   select vault.create_secret('https://<project-ref>.supabase.co', 'project_url');
--   select vault.create_secret('<sb_secret_… or the service role key>', 'sync_secret_key');
--
-- Three jobs:
--   * polar-reconcile (03:00 UTC nightly): starts a reconcile of every user, or resumes
--     the unfinished one.
--   * polar-reconcile-resume (every 10 minutes): continues a run that the edge runtime's
--     wall-clock limit cut short; answers at once when there is none.
--   * polar-customer-deletions (every minute): deletes deleted users' customers in Polar;
--     one database call when the outbox is empty.
-- Run it again to change a schedule: cron.schedule replaces a job of the same name.
-- =====================================================================================
create extension if not exists pg_cron;
create extension if not exists pg_net;

-- Calls the sync function with the secret key from Vault; returns pg_net's request id.
-- In schema polar, which the API does not expose; only its owner (who schedules the jobs)
-- may call it.
create or replace function polar.call_sync(body jsonb) returns bigint
language sql
security invoker
set search_path = ''
as $$
  select net.http_post(
    url := (select decrypted_secret from vault.decrypted_secrets where name = 'project_url')
      || '/functions/v1/sync',
    headers := (
      select jsonb_build_object(
        'Content-Type', 'application/json',
        'Authorization', 'Bearer ' || s.decrypted_secret,
        'apikey', s.decrypted_secret)
      from vault.decrypted_secrets as s where s.name = 'sync_secret_key'),
    body := body,
    -- A reconcile call answers within its 120 s budget, before the runtime's 150 s limit.
    timeout_milliseconds := 150000
  );
$$;

revoke all on function polar.call_sync(jsonb) from public, anon, authenticated, service_role;

select cron.schedule('polar-reconcile', '0 3 * * *',
  $$select polar.call_sync('{"scope": "all"}')$$);
select cron.schedule('polar-reconcile-resume', '*/10 * * * *',
  $$select polar.call_sync('{"scope": "all", "resume": true}')$$);
select cron.schedule('polar-customer-deletions', '* * * * *',
  $$select polar.call_sync('{"scope": "deletions"}')$$);
