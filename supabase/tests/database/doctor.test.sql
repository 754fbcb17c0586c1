-- =====================================================================================
-- doctor (issue 19, point 2): public.polar_doctor, which sync's {"scope":"doctor"} calls to
-- see whether the migrations are applied and the schedule's jobs exist in cron.job. Who may
-- call it (service_role only), what it answers with and without the jobs, and that it never
-- shows a job's command. Where pg_cron is not installed (PGlite, a plain PostgreSQL), a
-- stand-in cron.job with pg_cron's columns is made inside this transaction.
-- =====================================================================================
begin;
select plan(12);

-- ----- Schema ----------------------------------------------------------------------------------
select ok((select prosecdef from pg_proc where oid = 'public.polar_doctor(text[], text[])'::regprocedure),
  'polar_doctor is security definer (cron.job shows a role only its own jobs)');
select ok((select proconfig @> array['search_path=""']
  from pg_proc where oid = 'public.polar_doctor(text[], text[])'::regprocedure),
  'polar_doctor runs with an empty search_path');

-- ----- Privileges: anon, authenticated, service_role --------------------------------------------
select ok(not has_function_privilege('anon', 'public.polar_doctor(text[], text[])', 'execute'),
  'anon may not call the doctor');
select ok(not has_function_privilege('authenticated', 'public.polar_doctor(text[], text[])',
  'execute'), 'a signed-in user may not call the doctor');
select ok(has_function_privilege('service_role', 'public.polar_doctor(text[], text[])', 'execute'),
  'service_role may call the doctor');

set local role anon;
select throws_ok($$select public.polar_doctor(array['billing_state'], array['polar-usage'])$$,
  '42501', 'permission denied for function polar_doctor', 'anon calling the doctor is refused');
reset role;
set local role authenticated;
select throws_ok($$select public.polar_doctor(array['billing_state'], array['polar-usage'])$$,
  '42501', 'permission denied for function polar_doctor',
  'a signed-in user calling the doctor is refused');
reset role;

-- ----- service_role: functions ------------------------------------------------------------------
set local role service_role;
select is(public.polar_doctor(array['billing_state', 'has_entitlement', 'no_such_function'],
    array[]::text[]) -> 'missing_functions',
  '["no_such_function"]'::jsonb, 'only the expected functions that do not exist are reported');
reset role;

-- ----- service_role: the schedule's jobs --------------------------------------------------------
do $$
begin
  if to_regclass('cron.job') is null then
    create schema cron;
    create table cron.job (
      jobid bigserial primary key, schedule text not null, command text not null,
      nodename text not null default 'localhost', nodeport integer not null default 5432,
      database text not null default current_database(), username text not null default current_user,
      active boolean not null default true, jobname text
    );
    revoke all on schema cron from public;
  end if;
end $$;
delete from cron.job where jobname like 'polar-%';
insert into cron.job (schedule, command, jobname, active) values
  ('0 3 * * *', 'select polar.call_sync(''{"scope":"all"}'')', 'polar-reconcile', true),
  ('* * * * *', 'select polar.call_sync(''{"scope":"usage"}'')', 'polar-usage', false);

set local role service_role;
select is(public.polar_doctor(array[]::text[], array['polar-reconcile', 'polar-usage',
    'polar-customer-deletions']) -> 'jobs',
  '[{"name": "polar-reconcile", "schedule": "0 3 * * *", "active": true},
    {"name": "polar-usage", "schedule": "* * * * *", "active": false}]'::jsonb,
  'the expected jobs that exist are answered with their schedule and whether they are active');
select is(public.polar_doctor(array[]::text[], array['polar-usage']) -> 'cron_installed',
  'true'::jsonb, 'with cron.job present, pg_cron counts as installed');
select ok(public.polar_doctor(array[]::text[], array['polar-reconcile'])::text
  not like '%call_sync%', 'a job''s command never leaves the doctor');
reset role;
delete from cron.job where jobname like 'polar-%';
set local role service_role;
select is(public.polar_doctor(array[]::text[], array['polar-reconcile']) -> 'jobs', '[]'::jsonb,
  'with no job installed, none is answered');
reset role;

select * from finish();
rollback;
