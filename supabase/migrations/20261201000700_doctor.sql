-- =====================================================================================
-- doctor: what the sync function's {"scope":"doctor"} (issue 19, point 2) asks the database,
-- so an operator learns from inside Supabase whether the migrations are applied and the
-- schedule (ops/schedule_sync.sql) is installed.
--
--   * public.polar_doctor(expected_functions, expected_jobs): which of the public functions
--     the edge functions call are missing, whether pg_cron is installed, and each expected
--     job that exists in cron.job with its schedule and whether it is active.
-- security definer, because cron.job belongs to the extension's owner and its RLS shows a
-- role its own jobs only; service_role only, revoked from PUBLIC, anon and authenticated, as
-- the job commands name the Vault secrets they read.
-- =====================================================================================

-- ----- public.polar_doctor ---------------------------------------------------------------------
-- Answers { missing_functions: [name…], cron_installed: bool, jobs: [{name, schedule, active}] }.
-- Only names and schedules leave the function: never a job's command.
create function public.polar_doctor(expected_functions text[], expected_jobs text[])
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  v_missing jsonb;
  v_cron boolean := pg_catalog.to_regclass('cron.job') is not null;
  v_jobs jsonb := '[]'::jsonb;
begin
  select coalesce(pg_catalog.jsonb_agg(expected.name order by expected.name), '[]'::jsonb)
  into v_missing
  from pg_catalog.unnest(coalesce(expected_functions, '{}')) as expected(name)
  where not exists (
    select from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'public' and p.proname = expected.name
  );
  if v_cron then
    -- Dynamic, so the function compiles and answers where pg_cron was never installed.
    execute $sql$
      select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'name', j.jobname, 'schedule', j.schedule, 'active', j.active) order by j.jobname),
        '[]'::jsonb)
      from cron.job j
      where j.jobname = any($1)
    $sql$ into v_jobs using coalesce(expected_jobs, '{}');
  end if;
  return pg_catalog.jsonb_build_object(
    'missing_functions', v_missing,
    'cron_installed', v_cron,
    'jobs', v_jobs
  );
end;
$$;
comment on function public.polar_doctor(text[], text[]) is
  'For sync''s doctor: which expected public functions are missing, whether pg_cron is installed, and the expected cron jobs that exist (name, schedule, active). service_role only.';

revoke all on function public.polar_doctor(text[], text[]) from public, anon, authenticated;
grant execute on function public.polar_doctor(text[], text[]) to service_role;
