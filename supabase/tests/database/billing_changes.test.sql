-- =====================================================================================
-- billing_changes (issue 20, point 3): public.polar_billing_changes per role, and its
-- exactly-once rule through apply_polar_webhook under redelivered and reordered events,
-- the pull path (apply_polar_state) and snapshots that repeat what events said.
-- Hal subscribes, renews, cancels and ends; Ivy is another user; orders and grants too.
-- =====================================================================================
begin;
select plan(43);

-- ----- Fixtures -------------------------------------------------------------------------------
insert into auth.users (id, email) values
  ('a1111111-1111-4111-8111-111111111111', 'hal@example.com'),
  ('b2222222-2222-4222-8222-222222222222', 'ivy@example.com');
insert into public.user_subscriptions (user_id, polar_customer_id, polar_customer_verified) values
  ('a1111111-1111-4111-8111-111111111111', 'cus_hal', true),
  ('b2222222-2222-4222-8222-222222222222', 'cus_ivy', true);

-- A subscription change of Hal's (the format apply_polar_webhook documents).
create function pg_temp.sub(
  user_id text, customer_id text, status text, version text,
  period_start text default '2026-11-01T00:00:00Z', cancel boolean default false,
  canceled_at text default null, ended_at text default null
) returns jsonb language sql as $$
  select jsonb_build_object(
    'customer_id', customer_id, 'external_id', user_id, 'metadata_user_id', null,
    'customer_version', '2026-10-01T00:00:00Z', 'customer_deleted', false,
    'subscription', jsonb_build_object(
      'id', 'sub_' || customer_id, 'status', status, 'product_id', 'prod_pro',
      'current_period_start', period_start, 'current_period_end', null, 'trial_end', null,
      'cancel_at_period_end', cancel, 'canceled_at', canceled_at, 'ended_at', ended_at,
      'version', version));
$$;
create function pg_temp.state(user_id text, customer_id text, at text, grants jsonb)
returns jsonb language sql as $$
  select jsonb_build_object(
    'customer_id', customer_id, 'external_id', user_id, 'metadata_user_id', null,
    'customer_version', '2026-10-01T00:00:00Z', 'customer_deleted', false,
    'subscription', null,
    'state', jsonb_build_object('at', at, 'subscriptions', '[]'::jsonb, 'grants', grants,
      'meters', '[]'::jsonb));
$$;
create function pg_temp.grant_of(id text, granted_at text) returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'benefit_id', 'ben_pro', 'benefit_type', 'feature_flag',
    'benefit_metadata', jsonb_build_object('key', 'pro'), 'properties', '{}'::jsonb,
    'granted_at', granted_at);
$$;
create function pg_temp.order_of(user_id text, customer_id text, id text, kind text,
  refunded integer default 0) returns jsonb language sql as $$
  select jsonb_build_object(
    'customer_id', customer_id, 'external_id', user_id, 'metadata_user_id', null,
    'customer_version', '2026-10-01T00:00:00Z', 'customer_deleted', false,
    'subscription', null,
    'order', jsonb_build_object('id', id, 'kind', kind, 'product_id', 'prod_pack',
      'subscription_id', null, 'total_amount', 500, 'refunded_amount', refunded,
      'currency', 'usd', 'version', '2026-11-02T00:00:00Z'));
$$;
create function pg_temp.kinds(user_id uuid) returns text[] language sql as $$
  select coalesce(array_agg(kind || ' ' || polar_id order by id), '{}')
  from public.polar_billing_changes as c where c.user_id = kinds.user_id;
$$;
create function pg_temp.hook(id text, type text, change jsonb) returns text language sql as $$
  select public.apply_polar_webhook(id, type, now(), change) ->> 'outcome';
$$;

-- ----- Schema and privileges ---------------------------------------------------------------
select has_table('public', 'polar_billing_changes', 'polar_billing_changes exists');
select col_is_unique('public', 'polar_billing_changes', 'change_key',
  'each fact has one change_key, recorded once');
select ok((select relrowsecurity from pg_class where oid = 'public.polar_billing_changes'::regclass),
  'row level security is on');
select ok(not has_table_privilege('anon', 'public.polar_billing_changes', 'select'),
  'anon may not read billing changes');
select ok(not has_table_privilege('authenticated', 'public.polar_billing_changes', 'insert')
  and not has_table_privilege('authenticated', 'public.polar_billing_changes', 'update')
  and not has_table_privilege('authenticated', 'public.polar_billing_changes', 'delete'),
  'a signed-in user may not write billing changes');
select ok(not has_table_privilege('service_role', 'public.polar_billing_changes', 'insert')
  and not has_table_privilege('service_role', 'public.polar_billing_changes', 'update')
  and not has_table_privilege('service_role', 'public.polar_billing_changes', 'delete'),
  'not even the service role writes: the table is append-only, written by the apply functions');
select ok(not has_function_privilege('service_role',
  'polar.record_billing_change(uuid, text, text, timestamptz, jsonb, text)', 'execute'),
  'the internal recorder is callable by no API role');

-- ----- service_role: a subscription's life, with redeliveries and reordering ----------------
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);

-- Reordered: subscription.active (v2) arrives before subscription.created (v1, incomplete).
select is(pg_temp.hook('w2', 'subscription.active', pg_temp.sub(
  'a1111111-1111-4111-8111-111111111111', 'cus_hal', 'active', '2026-11-01T00:00:02Z')),
  'applied', 'the active event applies');
select is(pg_temp.hook('w1', 'subscription.created', pg_temp.sub(
  'a1111111-1111-4111-8111-111111111111', 'cus_hal', 'incomplete', '2026-11-01T00:00:01Z')),
  'stale', 'the older created event, arriving late, is stale');
select is(pg_temp.hook('w2', 'subscription.active', pg_temp.sub(
  'a1111111-1111-4111-8111-111111111111', 'cus_hal', 'active', '2026-11-01T00:00:02Z')),
  'duplicate', 'a redelivery is a duplicate');
select is(pg_temp.hook('w3', 'subscription.updated', pg_temp.sub(
  'a1111111-1111-4111-8111-111111111111', 'cus_hal', 'active', '2026-11-01T00:00:03Z')),
  'applied', 'a newer event with the same facts applies');
select is(pg_temp.kinds('a1111111-1111-4111-8111-111111111111'),
  array['subscription_started sub_cus_hal'],
  'started is recorded once: not by the stale event, the redelivery or the repeat');
select is((select occurred_at from public.polar_billing_changes where change_key = 'subscription_started:sub_cus_hal'),
  '2026-11-01T00:00:00Z'::timestamptz, 'started occurred when its first period began');

-- Renewal: the period advances; its redelivery and an older period change nothing.
select is(pg_temp.hook('w5', 'subscription.cycled', pg_temp.sub(
  'a1111111-1111-4111-8111-111111111111', 'cus_hal', 'active', '2026-12-01T00:00:01Z',
  '2026-12-01T00:00:00Z')), 'applied', 'the cycled event applies');
select is(pg_temp.hook('w4', 'subscription.updated', pg_temp.sub(
  'a1111111-1111-4111-8111-111111111111', 'cus_hal', 'active', '2026-11-15T00:00:00Z')),
  'stale', 'an update from the first period, arriving after the renewal, is stale');
select is(pg_temp.hook('w5b', 'subscription.updated', pg_temp.sub(
  'a1111111-1111-4111-8111-111111111111', 'cus_hal', 'active', '2026-12-01T00:00:02Z',
  '2026-12-01T00:00:00Z')), 'applied', 'a later update of the same period applies');
select is(pg_temp.kinds('a1111111-1111-4111-8111-111111111111'),
  array['subscription_started sub_cus_hal', 'subscription_renewed sub_cus_hal'],
  'renewed is recorded once for the new period');

-- Cancel at period end, then the end; the end arrives first.
select is(pg_temp.hook('w7', 'subscription.revoked', pg_temp.sub(
  'a1111111-1111-4111-8111-111111111111', 'cus_hal', 'canceled', '2026-12-31T00:00:00Z',
  '2026-12-01T00:00:00Z', true, '2026-12-10T00:00:00Z', '2026-12-31T00:00:00Z')),
  'applied', 'the revoked event applies');
select is(pg_temp.hook('w6', 'subscription.canceled', pg_temp.sub(
  'a1111111-1111-4111-8111-111111111111', 'cus_hal', 'active', '2026-12-10T00:00:00Z',
  '2026-12-01T00:00:00Z', true, '2026-12-10T00:00:00Z')),
  'stale', 'the canceled event, arriving after the end, is stale');
select is(pg_temp.kinds('a1111111-1111-4111-8111-111111111111'),
  array['subscription_started sub_cus_hal', 'subscription_renewed sub_cus_hal',
    'subscription_canceled sub_cus_hal', 'subscription_ended sub_cus_hal'],
  'canceled and ended are each recorded once, from the state that shows both');
select is((select occurred_at from public.polar_billing_changes
    where change_key like 'subscription_canceled:sub_cus_hal:%'),
  '2026-12-10T00:00:00Z'::timestamptz, 'canceled occurred at canceled_at');
select is(pg_temp.hook('w8', 'subscription.updated', pg_temp.sub(
  'a1111111-1111-4111-8111-111111111111', 'cus_hal', 'canceled', '2027-01-01T00:00:00Z',
  '2026-12-01T00:00:00Z', true, '2026-12-10T00:00:00Z', '2026-12-31T00:00:00Z')),
  'applied', 'a later update of the ended subscription applies');
select is((select count(*)::int from public.polar_billing_changes
    where user_id = 'a1111111-1111-4111-8111-111111111111'), 4,
  'and records nothing new');

-- The pull path shares the rule: a pulled subscription already recorded adds nothing.
select is(public.apply_polar_state('a1111111-1111-4111-8111-111111111111', pg_temp.sub(
  'a1111111-1111-4111-8111-111111111111', 'cus_hal', 'canceled', '2027-01-02T00:00:00Z',
  '2026-12-01T00:00:00Z', true, '2026-12-10T00:00:00Z', '2026-12-31T00:00:00Z')) ->> 'outcome',
  'applied', 'a pull of a newer version applies');
select is((select count(*)::int from public.polar_billing_changes
    where user_id = 'a1111111-1111-4111-8111-111111111111'), 4,
  'and records nothing new either');

-- ----- Grants: granted once per granting, revoked once --------------------------------------
select is(pg_temp.hook('s1', 'customer.state_changed', pg_temp.state(
  'b2222222-2222-4222-8222-222222222222', 'cus_ivy', '2026-11-01T00:00:00Z',
  jsonb_build_array(pg_temp.grant_of('grant_ivy', '2026-11-01T00:00:00Z')))),
  'applied', 'a snapshot with a grant applies');
select is(pg_temp.hook('s2', 'customer.state_changed', pg_temp.state(
  'b2222222-2222-4222-8222-222222222222', 'cus_ivy', '2026-11-02T00:00:00Z',
  jsonb_build_array(pg_temp.grant_of('grant_ivy', '2026-11-01T00:00:00Z')))),
  'applied', 'a newer snapshot listing the same grant applies');
select is(pg_temp.kinds('b2222222-2222-4222-8222-222222222222'),
  array['benefit_granted grant_ivy'], 'the grant is recorded once');
select is(pg_temp.hook('s4', 'customer.state_changed', pg_temp.state(
  'b2222222-2222-4222-8222-222222222222', 'cus_ivy', '2026-11-04T00:00:00Z', '[]'::jsonb)),
  'applied', 'a snapshot without the grant applies');
select is(pg_temp.hook('s3', 'customer.state_changed', pg_temp.state(
  'b2222222-2222-4222-8222-222222222222', 'cus_ivy', '2026-11-03T00:00:00Z',
  jsonb_build_array(pg_temp.grant_of('grant_ivy', '2026-11-01T00:00:00Z')))),
  'stale', 'an older snapshot that still lists it, arriving late, is stale');
select is(pg_temp.hook('s5', 'customer.state_changed', pg_temp.state(
  'b2222222-2222-4222-8222-222222222222', 'cus_ivy', '2026-11-05T00:00:00Z', '[]'::jsonb)),
  'applied', 'a newer snapshot, still without it, applies');
select is(pg_temp.kinds('b2222222-2222-4222-8222-222222222222'),
  array['benefit_granted grant_ivy', 'benefit_revoked grant_ivy'],
  'the revocation is recorded once');
select is(pg_temp.hook('s6', 'customer.state_changed', pg_temp.state(
  'b2222222-2222-4222-8222-222222222222', 'cus_ivy', '2026-11-06T00:00:00Z',
  jsonb_build_array(pg_temp.grant_of('grant_ivy', '2026-11-06T00:00:00Z')))),
  'applied', 'the benefit granted again (a new granted_at) applies');
select is((select count(*)::int from public.polar_billing_changes
    where user_id = 'b2222222-2222-4222-8222-222222222222' and kind = 'benefit_granted'), 2,
  'a new granting is a new change');

-- ----- Orders ------------------------------------------------------------------------------------
select is(pg_temp.hook('o1', 'order.paid', pg_temp.order_of(
  'b2222222-2222-4222-8222-222222222222', 'cus_ivy', 'ord_1', 'order_paid')),
  'applied', 'order.paid applies');
select is(pg_temp.hook('o1b', 'order.paid', pg_temp.order_of(
  'b2222222-2222-4222-8222-222222222222', 'cus_ivy', 'ord_1', 'order_paid')),
  'stale', 'the same order under another webhook-id records nothing');
select is(pg_temp.hook('o2', 'order.refunded', pg_temp.order_of(
  'b2222222-2222-4222-8222-222222222222', 'cus_ivy', 'ord_1', 'order_refunded', 500)),
  'applied', 'order.refunded applies');
select is((select array_agg(kind order by id) from public.polar_billing_changes
    where polar_id = 'ord_1'), array['order_paid', 'order_refunded'],
  'paid and refunded are recorded once each, for the right user');

-- ----- Append-only, even for the owner -----------------------------------------------------------
reset role;
select throws_ok($$update public.polar_billing_changes set kind = kind$$, '42501',
  'public.polar_billing_changes is append-only', 'an UPDATE is refused, even for the owner');

-- ----- Owner, other user, anon -------------------------------------------------------------------
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"a1111111-1111-4111-8111-111111111111","role":"authenticated"}', true);
select is((select count(*)::int from public.polar_billing_changes), 4,
  'Hal reads his own four changes and none of Ivy''s');
select throws_ok($$insert into public.polar_billing_changes (user_id, kind, polar_id, occurred_at, change_key)
    values ('a1111111-1111-4111-8111-111111111111', 'order_paid', 'x', now(), 'x')$$, '42501',
  'permission denied for table polar_billing_changes', 'Hal may not record a change himself');
select set_config('request.jwt.claims',
  '{"sub":"b2222222-2222-4222-8222-222222222222","role":"authenticated"}', true);
select is((select count(*)::int from public.polar_billing_changes
    where user_id = 'a1111111-1111-4111-8111-111111111111'), 0,
  'Ivy sees none of Hal''s changes');
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$select count(*) from public.polar_billing_changes$$, '42501',
  'permission denied for table polar_billing_changes', 'anon may not read billing changes');

select * from finish();
rollback;
