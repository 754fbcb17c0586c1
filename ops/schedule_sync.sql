-- =====================================================================================
-- Schedules the sync function with pg_cron and pg_net, Supabase's documented way to call
-- an Edge Function on a schedule. Run it once in the SQL editor (or with psql).
--
-- The schedule authenticates with its own secret, POLAR_SYNC_SECRET, never with a Supabase
-- key: pg_net's install script grants ALL on net.http_request_queue to PUBLIC, so every
-- database role can read (and delete) a request, headers included, while it waits there.
-- The sync secret opens only the sync function's operator scopes; a Supabase secret key
-- there would open the whole project. Before running this file:
--
--   1. Generate the secret and give it to the function (not a SUPABASE_ name):
--        openssl rand -hex 32
--        npx supabase secrets set POLAR_SYNC_SECRET=<that value>
--   2. Store the project URL and the same secret in Vault:
--        select vault.create_secret('https://<project-ref>.supabase.co', 'project_url');
--        select vault.create_secret('<that value>', 'polar_sync_secret');
--
-- To rotate: POLAR_SYNC_SECRET="<new>,<old>", then
--   select vault.update_secret((select id from vault.secrets where name = 'polar_sync_secret'), '<new>');
-- then POLAR_SYNC_SECRET="<new>" (see docs/sync.md).
--
-- Five jobs:
--   * polar-reconcile (03:00 UTC nightly): starts a reconcile of every user, or resumes
--     the unfinished one.
--   * polar-reconcile-resume (every 10 minutes, at minutes 5, 15, …, 55): continues a run
--     that the edge runtime's wall-clock limit cut short; answers at once when there is
--     none. Off minute 0 so that it does not start together with the 03:00 reconcile; a
--     call that still overlaps a run in progress is refused by the function's lease.
--   * polar-customer-deletions (every minute): deletes deleted users' customers in Polar;
--     one database call when the outbox is empty.
--   * polar-usage (every minute): refreshes the meter definitions and sends recorded usage
--     (the outbox public.polar_usage_events) to Polar's event ingestion, within a 45 s budget;
--     one meters call and three database calls when nothing is pending.
--   * polar-catalog (hourly, at minute 17): pulls every product into the price list
--     (public.polar_products), in case a product.* or benefit.* webhook was lost.
-- Run it again to change a schedule: cron.schedule replaces a job of the same name.
-- =====================================================================================
create extension if not exists pg_cron;
create extension if not exists pg_net;

-- Calls the sync function with the sync secret from Vault; returns pg_net's request id.
-- What pg_net queues carries the Content-Type and the sync secret as the bearer token, and
-- no Supabase key. In schema polar, which the API does not expose; only its owner (who
-- schedules the jobs) may call it.
create or replace function polar.call_sync(body jsonb) returns bigint
language plpgsql
security invoker
set search_path = ''
as $$
declare
  project_url text := (select decrypted_secret from vault.decrypted_secrets where name = 'project_url');
  sync_secret text := (select decrypted_secret from vault.decrypted_secrets where name = 'polar_sync_secret');
begin
  -- Fail the job (cron.job_run_details says why) rather than send a request without a secret.
  if project_url is null or sync_secret is null then
    raise exception 'Vault secrets project_url and polar_sync_secret are required'
      using hint = 'see the header of ops/schedule_sync.sql';
  end if;
  return net.http_post(
    url := project_url || '/functions/v1/sync',
    headers := jsonb_build_object(
      'Content-Type', 'application/json',
      'Authorization', 'Bearer ' || sync_secret),
    body := body,
    -- A reconcile call answers within its 120 s budget, before the runtime's 150 s limit.
    timeout_milliseconds := 150000
  );
end;
$$;

revoke all on function polar.call_sync(jsonb) from public, anon, authenticated, service_role;

select cron.schedule('polar-reconcile', '0 3 * * *',
  $$select polar.call_sync('{"scope": "all"}')$$);
select cron.schedule('polar-reconcile-resume', '5-59/10 * * * *',
  $$select polar.call_sync('{"scope": "all", "resume": true}')$$);
select cron.schedule('polar-customer-deletions', '* * * * *',
  $$select polar.call_sync('{"scope": "deletions"}')$$);
select cron.schedule('polar-usage', '* * * * *',
  $$select polar.call_sync('{"scope": "usage"}')$$);
-- The price list (public.polar_products), in case a product.* or benefit.* webhook was lost.
select cron.schedule('polar-catalog', '17 * * * *',
  $$select polar.call_sync('{"scope": "catalog"}')$$);
