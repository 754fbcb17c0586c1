-- =====================================================================================
-- usage_flush (issue 18, point 3): claim_polar_usage_events, finish_polar_usage_events and
-- pending_polar_usage_count: who may call them, oldest first, a claimed row skipped until
-- its lease ends or it is released, delivered and refused rows never claimed again.
-- Ada records three uses of the "ai" meter (sum of "tokens", events named ai.completion).
-- =====================================================================================
begin;
select plan(17);

-- ----- Fixtures -------------------------------------------------------------------------------
insert into auth.users (id, email) values ('a0000000-0000-4000-8000-00000000000a', 'ada@example.com');
select public.store_polar_meters(jsonb_build_array(jsonb_build_object(
  'id', 'meter_ai', 'name', 'ai', 'archived_at', null, 'metadata', '{}'::jsonb, 'unit', 'scalar',
  'organization_id', 'org_1', 'created_at', '2026-11-01T00:00:00Z', 'modified_at', null,
  'filter', jsonb_build_object('conjunction', 'and', 'clauses', jsonb_build_array(
    jsonb_build_object('property', 'name', 'operator', 'eq', 'value', 'ai.completion'))),
  'aggregation', jsonb_build_object('func', 'sum', 'property', 'tokens'))));
select public.record_usage('ai', n, 'k' || n, '{}', 'a0000000-0000-4000-8000-00000000000a')
from generate_series(1, 3) as n;

create function pg_temp.row_id(key text) returns bigint language sql as $$
  select id from public.polar_usage_events where idempotency_key = key;
$$;

-- ----- Privileges -------------------------------------------------------------------------------
select ok(not has_function_privilege('anon', 'public.claim_polar_usage_events(integer, integer)',
  'execute'), 'anon may not claim usage rows');
select ok(not has_function_privilege('authenticated',
  'public.claim_polar_usage_events(integer, integer)', 'execute'),
  'a signed-in user may not claim usage rows');
select ok(not has_function_privilege('authenticated',
  'public.finish_polar_usage_events(bigint[], jsonb, bigint[])', 'execute'),
  'a signed-in user may not mark usage delivered');
select ok(not has_function_privilege('anon', 'public.pending_polar_usage_count()', 'execute'),
  'anon may not count pending usage');
select ok(has_function_privilege('service_role',
  'public.claim_polar_usage_events(integer, integer)', 'execute')
  and has_function_privilege('service_role',
    'public.finish_polar_usage_events(bigint[], jsonb, bigint[])', 'execute')
  and has_function_privilege('service_role', 'public.pending_polar_usage_count()', 'execute'),
  'service_role may call all three');

set local role authenticated;
select throws_ok($$select * from public.claim_polar_usage_events(10)$$, '42501',
  'permission denied for function claim_polar_usage_events',
  'a signed-in user calling the claim is refused');
reset role;

-- ----- service_role: claim, lease, finish ------------------------------------------------------
set local role service_role;
select is((select array_agg(units order by id) from public.claim_polar_usage_events(2, 60)),
  array[1, 2]::numeric[], 'the claim takes the oldest rows first, up to max_rows');
select is((select array_agg(units) from public.claim_polar_usage_events(10, 60)),
  array[3]::numeric[], 'a second claim skips the rows the first one holds');
select is((select count(*) from public.claim_polar_usage_events(10, 60)), 0::bigint,
  'with every row claimed, a claim takes none');
select is(public.pending_polar_usage_count(), 3::bigint, 'claimed rows are still pending');

select is(public.finish_polar_usage_events(array[pg_temp.row_id('k1')],
    jsonb_build_array(jsonb_build_object('id', pg_temp.row_id('k2'), 'reason', 'bad metadata')),
    array[pg_temp.row_id('k3')]),
  1::bigint, 'finish answers the rows still pending');
select is((select delivered_at is not null and claimed_until is null
  from public.polar_usage_events where idempotency_key = 'k1'), true,
  'a delivered row is marked delivered and loses its claim');
select is((select polar_refusal from public.polar_usage_events where idempotency_key = 'k2'),
  'bad metadata', 'a refused row keeps Polar''s reason');
select is((select array_agg(units) from public.claim_polar_usage_events(10, 60)),
  array[3]::numeric[], 'a released row can be claimed at once; delivered and refused ones never');

select public.finish_polar_usage_events(array[pg_temp.row_id('k2')]);
select is((select delivered_at from public.polar_usage_events where idempotency_key = 'k2'),
  null, 'a refused row is not marked delivered later');
reset role;

-- ----- An expired lease ------------------------------------------------------------------------
update public.polar_usage_events set claimed_until = now() - interval '1 second'
where idempotency_key = 'k3';
set local role service_role;
select is((select array_agg(units) from public.claim_polar_usage_events(10, 60)),
  array[3]::numeric[], 'a row whose lease ended is claimed again');
select is(public.pending_polar_usage_count(), 1::bigint, 'one row is still pending');
reset role;

select * from finish();
rollback;
