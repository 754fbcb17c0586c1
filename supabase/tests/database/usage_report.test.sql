-- =====================================================================================
-- usage_report (issue 18, point 3): public.polar_unsent_usage names the usage rows Polar
-- refused and the rows pending for more than a day, for the reconcile report: who may call it
-- (anon, the owner of the rows, another user: no; service_role: yes), both sides of the
-- one-day boundary, delivered rows never named, refused ones whatever their age, the counts
-- past max_rows. Ada and Bob record uses of the "ai" meter (sum of "tokens").
-- =====================================================================================
begin;
select plan(16);

-- ----- Fixtures -------------------------------------------------------------------------------
insert into auth.users (id, email) values
  ('a0000000-0000-4000-8000-00000000000a', 'ada@example.com'),
  ('b0000000-0000-4000-8000-00000000000b', 'bob@example.com');
select public.store_polar_meters(jsonb_build_array(jsonb_build_object(
  'id', 'meter_ai', 'name', 'ai', 'archived_at', null, 'metadata', '{}'::jsonb, 'unit', 'scalar',
  'organization_id', 'org_1', 'created_at', '2026-11-01T00:00:00Z', 'modified_at', null,
  'filter', jsonb_build_object('conjunction', 'and', 'clauses', jsonb_build_array(
    jsonb_build_object('property', 'name', 'operator', 'eq', 'value', 'ai.completion'))),
  'aggregation', jsonb_build_object('func', 'sum', 'property', 'tokens'))));
select public.record_usage('ai', 1, key, '{}', 'a0000000-0000-4000-8000-00000000000a')
from unnest(array['over', 'exact', 'under', 'fresh', 'delivered-old', 'refused-new']) as key;
select public.record_usage('ai', 2, 'bob-over', '{}', 'b0000000-0000-4000-8000-00000000000b');

-- now() is the transaction's start: fixed for the whole file.
update public.polar_usage_events set recorded_at = now() - interval '1 day' - interval '1 second'
where idempotency_key in ('over', 'delivered-old');
update public.polar_usage_events set recorded_at = now() - interval '2 days'
where idempotency_key = 'bob-over';
update public.polar_usage_events set recorded_at = now() - interval '1 day'
where idempotency_key = 'exact';
update public.polar_usage_events set recorded_at = now() - interval '1 day' + interval '1 second'
where idempotency_key = 'under';
update public.polar_usage_events set delivered_at = now() where idempotency_key = 'delivered-old';
update public.polar_usage_events set polar_refusal = 'Customer not found.'
where idempotency_key = 'refused-new';

create function pg_temp.named(report jsonb) returns text[] language sql as $$
  select coalesce(array_agg(e.idempotency_key order by x.ord), '{}')
  from jsonb_array_elements(report -> 'events') with ordinality as x (event, ord)
  join public.polar_usage_events as e on e.id = (x.event ->> 'id')::bigint;
$$;

-- ----- Privileges -------------------------------------------------------------------------------
select ok(not has_function_privilege('anon', 'public.polar_unsent_usage(interval, integer)',
  'execute'), 'anon may not read the unsent usage report');
select ok(not has_function_privilege('authenticated',
  'public.polar_unsent_usage(interval, integer)', 'execute'),
  'a signed-in user may not read it, not even about their own rows');
select ok(has_function_privilege('service_role', 'public.polar_unsent_usage(interval, integer)',
  'execute'), 'service_role may read it');

set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$select public.polar_unsent_usage()$$, '42501',
  'permission denied for function polar_unsent_usage', 'anon calling it is refused');
reset role;

set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a0000000-0000-4000-8000-00000000000a","role":"authenticated"}', true);
select throws_ok($$select public.polar_unsent_usage()$$, '42501',
  'permission denied for function polar_unsent_usage',
  'the owner of the rows calling it is refused');
select set_config('request.jwt.claims',
  '{"sub":"b0000000-0000-4000-8000-00000000000b","role":"authenticated"}', true);
select throws_ok($$select public.polar_unsent_usage()$$, '42501',
  'permission denied for function polar_unsent_usage', 'another user calling it is refused');
reset role;

-- ----- service_role: what is named ---------------------------------------------------------------
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is(pg_temp.named(public.polar_unsent_usage()),
  array['refused-new', 'bob-over', 'over'],
  'named: refused rows first, then pending rows recorded more than a day ago, oldest first');
select ok(not ('exact' = any (pg_temp.named(public.polar_unsent_usage()))),
  'a row pending for exactly a day is not named yet');
select ok(not ('under' = any (pg_temp.named(public.polar_unsent_usage()))),
  'a row pending for a day less one second is not named');
select ok(not ('delivered-old' = any (pg_temp.named(public.polar_unsent_usage()))),
  'a delivered row is never named, however old');
select is(public.polar_unsent_usage() - 'events',
  '{"refused": 1, "stale": 2, "older_than": "1 day"}'::jsonb,
  'the counts: one refused, two pending for more than a day');
select is((select x from jsonb_array_elements(public.polar_unsent_usage() -> 'events') as x
    where x ->> 'state' = 'refused') - 'id' - 'recorded_at' - 'external_id',
  '{"user_id": "a0000000-0000-4000-8000-00000000000a", "meter": "ai", "units": 1,
    "state": "refused", "reason": "Customer not found."}'::jsonb,
  'a refused row is named with its user, meter, units and Polar''s reason');
select is((select x ->> 'external_id' from jsonb_array_elements(
      public.polar_unsent_usage() -> 'events') as x where x ->> 'state' = 'pending'
    order by x ->> 'recorded_at' limit 1),
  (select external_id from public.polar_usage_events where idempotency_key = 'bob-over'),
  'a stale row is named with the external_id Polar dedupes on');
select is(pg_temp.named(public.polar_unsent_usage(interval '1 day', 1)), array['refused-new'],
  'max_rows caps the rows named');
select is(public.polar_unsent_usage(interval '1 day', 1) - 'events',
  '{"refused": 1, "stale": 2, "older_than": "1 day"}'::jsonb,
  'the counts are the totals, past max_rows');
select is(pg_temp.named(public.polar_unsent_usage(interval '1 second')),
  array['refused-new', 'bob-over', 'over', 'exact', 'under'],
  'a shorter older_than names the younger pending rows too, never the fresh one');
reset role;

select * from finish();
rollback;
