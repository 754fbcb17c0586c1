-- =====================================================================================
-- entitlements, at their boundaries (issue 22): every comparison of a staleness rule on
-- both sides (a subscription as old as the snapshot, and 1 µs newer; an event as old as the
-- stored one, and 1 µs newer; a snapshot as old as the applied one, and 1 µs newer), which
-- statuses count, a plan change by a newer event, and every rule scoped by user tried with
-- two users. One section per role.
-- Users: Fay and Gus (verified links, snapshots applied), Pia (past_due, no snapshot),
-- Ted (one subscription per status, no snapshot), Uma (a subscription that changes plan),
-- Vic (an unverified link).
-- =====================================================================================
begin;
select plan(49);

-- ----- Fixtures -------------------------------------------------------------------------------
insert into auth.users (id, email) values
  ('f0000000-0000-4000-8000-00000000000f', 'fay@example.com'),
  ('0a000000-0000-4000-8000-0000000000a0', 'gus@example.com'),
  ('0b000000-0000-4000-8000-0000000000b0', 'pia@example.com'),
  ('0c000000-0000-4000-8000-0000000000c0', 'ted@example.com'),
  ('0d000000-0000-4000-8000-0000000000d0', 'uma@example.com'),
  ('0e000000-0000-4000-8000-0000000000e0', 'vic@example.com');
insert into public.user_subscriptions
  (user_id, polar_customer_id, polar_customer_verified, polar_state_at,
    polar_customer_modified_at) values
  ('f0000000-0000-4000-8000-00000000000f', 'cus_fay', true, '2026-11-27T10:00:00Z',
    '2026-11-01T00:00:00Z'),
  ('0a000000-0000-4000-8000-0000000000a0', 'cus_gus', true, '2026-11-27T10:00:00Z',
    '2026-11-01T00:00:00Z'),
  ('0b000000-0000-4000-8000-0000000000b0', 'cus_pia', true, null, '2026-11-01T00:00:00Z'),
  ('0c000000-0000-4000-8000-0000000000c0', 'cus_ted', true, null, '2026-11-01T00:00:00Z'),
  ('0d000000-0000-4000-8000-0000000000d0', 'cus_uma', true, null, '2026-11-01T00:00:00Z'),
  ('0e000000-0000-4000-8000-0000000000e0', 'cus_vic', false, null, '2026-11-01T00:00:00Z');
-- Fay's subscriptions around her snapshot (built at 10:00:00), none of them listed by it but
-- the last; Gus's one subscription counts only because his snapshot lists it.
insert into public.polar_subscriptions
  (id, user_id, polar_customer_id, product_id, status, in_latest_state, polar_modified_at)
values
  ('sub_fay_as_old', 'f0000000-0000-4000-8000-00000000000f', 'cus_fay', 'prod_as_old', 'active',
    false, '2026-11-27T10:00:00Z'),
  ('sub_fay_newer', 'f0000000-0000-4000-8000-00000000000f', 'cus_fay', 'prod_newer', 'active',
    false, '2026-11-27T10:00:00.000001Z'),
  ('sub_fay_older', 'f0000000-0000-4000-8000-00000000000f', 'cus_fay', 'prod_older', 'active',
    false, '2026-11-27T09:59:59.999999Z'),
  ('sub_fay_listed', 'f0000000-0000-4000-8000-00000000000f', 'cus_fay', 'prod_listed',
    'trialing', true, '2026-11-27T09:00:00Z'),
  ('sub_gus', '0a000000-0000-4000-8000-0000000000a0', 'cus_gus', 'prod_gus', 'active', true,
    '2026-11-27T09:00:00Z'),
  ('sub_pia', '0b000000-0000-4000-8000-0000000000b0', 'cus_pia', 'prod_pro', 'past_due', false,
    '2026-11-27T09:00:00Z'),
  ('sub_vic', '0e000000-0000-4000-8000-0000000000e0', 'cus_vic', 'prod_pro', 'active', false,
    '2026-11-27T09:00:00Z');
insert into public.polar_subscriptions
  (id, user_id, polar_customer_id, product_id, status, polar_modified_at)
select 'sub_ted_' || status, '0c000000-0000-4000-8000-0000000000c0', 'cus_ted',
  'prod_' || status, status, '2026-11-27T09:00:00Z'
from unnest(array['active', 'trialing', 'past_due', 'unpaid', 'incomplete', 'incomplete_expired',
  'canceled']) as status;
insert into public.polar_benefit_grants
  (user_id, grant_id, benefit_id, benefit_type, benefit_metadata) values
  ('f0000000-0000-4000-8000-00000000000f', 'grant_fay', 'benefit_fay_only', 'feature_flag',
    '{"key": "fay_key"}'),
  ('0a000000-0000-4000-8000-0000000000a0', 'grant_gus', 'benefit_gus', 'feature_flag',
    '{"key": "gus_key"}'),
  ('0e000000-0000-4000-8000-0000000000e0', 'grant_vic', 'benefit_vic', 'feature_flag',
    '{"key": "vic_key"}');
insert into public.polar_meters (user_id, meter_id, consumed_units, credited_units, balance) values
  ('0a000000-0000-4000-8000-0000000000a0', 'meter_ai', 1, 10, 9);

-- A change in apply_polar_webhook's format.
create function pg_temp.change(
  customer text, external_id text, version text, subscription jsonb default null,
  state jsonb default null
) returns jsonb language sql as $$
  select jsonb_build_object('customer_id', customer, 'external_id', external_id,
    'metadata_user_id', null, 'customer_version', version, 'customer_deleted', false,
    'subscription', subscription, 'state', state);
$$;

-- Signs in as a user (the role and the claims, for this transaction).
create function pg_temp.as_user(id uuid) returns void language sql as $$
  select set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', jsonb_build_object('sub', id, 'role', 'authenticated')::text,
      true);
$$;

-- ----- Owner: polar.is_active_now, on both sides of each comparison ------------------------------
select is(polar.is_active_now('active', false, '2026-11-27T10:00:00Z', '2026-11-27T10:00:00Z'),
  false, 'a subscription exactly as old as a snapshot that leaves it out is not active');
select is(
  polar.is_active_now('active', false, '2026-11-27T10:00:00.000001Z', '2026-11-27T10:00:00Z'),
  true, 'one 1 µs newer is');
select is(polar.is_active_now('active', true, '2026-11-27T09:00:00Z', '2026-11-27T10:00:00Z'),
  true, 'an older one the snapshot lists is');
select is(polar.is_active_now('active', false, '2026-11-27T09:00:00Z', null), true,
  'with no snapshot yet, an active subscription is');
select is(polar.is_active_now('past_due', false, '2026-11-27T09:00:00Z', null), false,
  'a past_due subscription with no snapshot is not');
select is(polar.is_active_now('past_due', true, '2026-11-27T11:00:00Z', '2026-11-27T10:00:00Z'),
  false, 'nor one that is listed and newer');

-- ----- Fay: the boundary through her gate --------------------------------------------------------
select pg_temp.as_user('f0000000-0000-4000-8000-00000000000f');
select is(public.has_active_subscription('prod_as_old'), false,
  'Fay''s subscription as old as her snapshot, which leaves it out, does not count');
select is(public.has_active_subscription('prod_newer'), true, 'her one 1 µs newer counts');
select is(public.has_active_subscription('prod_older'), false, 'her one 1 µs older does not');
select is(public.has_active_subscription('prod_listed'), true, 'her listed one counts');
select is(public.has_entitlement('benefit_fay_only'), true, 'Fay holds her benefit by its id');
select is(public.has_entitlement('benefit_gus'), false, 'but not Gus''s by his benefit''s id');
select is(public.has_entitlement('gus_key'), false, 'nor by his benefit''s key');

-- ----- Gus: another user asks for Fay's benefit ------------------------------------------------------
reset role;
select pg_temp.as_user('0a000000-0000-4000-8000-0000000000a0');
select is(public.has_entitlement('benefit_fay_only'), false,
  'Gus asking for Fay''s benefit id is not entitled');
select is(public.has_entitlement('fay_key'), false, 'nor for her benefit''s key');
select is(public.has_entitlement('benefit_gus'), true, 'Gus holds his own by its id');
select is(public.has_active_subscription(), true, 'and his listed subscription counts');
select is(public.has_active_subscription('prod_newer'), false, 'Fay''s products are not his');

-- ----- Vic: an unverified link grants nothing, by key or by id ---------------------------------------
reset role;
select pg_temp.as_user('0e000000-0000-4000-8000-0000000000e0');
select is(public.has_entitlement('benefit_vic'), false,
  'Vic''s benefit id through an unverified link is no entitlement');
select is(public.has_entitlement('benefit_fay_only'), false, 'nor is Fay''s');
select is(public.has_active_subscription(), false, 'nor does his subscription count');

-- ----- Pia and Ted: which statuses count ---------------------------------------------------------------
reset role;
select pg_temp.as_user('0b000000-0000-4000-8000-0000000000b0');
select is(public.has_active_subscription(), false,
  'Pia''s past_due subscription, with no snapshot, is not active');
select is(public.has_active_subscription('prod_pro'), false, 'not even of its own product');
reset role;
select pg_temp.as_user('0c000000-0000-4000-8000-0000000000c0');
select results_eq(
  $$select status, public.has_active_subscription('prod_' || status)
    from unnest(array['active', 'trialing', 'past_due', 'unpaid', 'incomplete',
      'incomplete_expired', 'canceled']) as status$$,
  $$values ('active'::text, true), ('trialing', true), ('past_due', false), ('unpaid', false),
    ('incomplete', false), ('incomplete_expired', false), ('canceled', false)$$,
  'of Ted''s subscriptions (no snapshot), active and trialing count and no other status');

-- ----- anon ---------------------------------------------------------------------------------------
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select is(public.has_entitlement('benefit_fay_only'), false, 'anon holds no one''s benefit id');

-- ----- service_role: a plan change, by each subscription's own clock -------------------------------
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is(
  public.apply_polar_webhook('msg_uma_a', 'subscription.active', now(),
    pg_temp.change('cus_uma', '0d000000-0000-4000-8000-0000000000d0', '2026-11-01T00:00:00Z',
      '{"id": "sub_uma", "status": "active", "product_id": "prod_a",
        "version": "2026-11-27T09:00:00Z"}')),
  '{"outcome": "applied"}'::jsonb, 'Uma subscribes to product A');
select is(
  public.apply_polar_webhook('msg_uma_b', 'subscription.updated', now(),
    pg_temp.change('cus_uma', '0d000000-0000-4000-8000-0000000000d0', '2026-11-01T00:00:00Z',
      '{"id": "sub_uma", "status": "active", "product_id": "prod_b",
        "version": "2026-11-27T09:00:00.000001Z"}')),
  '{"outcome": "applied"}'::jsonb, 'and changes to product B, 1 µs later');
select results_eq(
  $$select s.product_id, u.product_id from public.polar_subscriptions as s
    join public.user_subscriptions as u using (user_id) where s.id = 'sub_uma'$$,
  $$values ('prod_b'::text, 'prod_b'::text)$$,
  'the subscription and the summary say product B');
select is(
  public.apply_polar_webhook('msg_uma_c_same', 'subscription.updated', now(),
    pg_temp.change('cus_uma', '0d000000-0000-4000-8000-0000000000d0', '2026-11-01T00:00:00Z',
      '{"id": "sub_uma", "status": "active", "product_id": "prod_c",
        "version": "2026-11-27T09:00:00.000001Z"}')),
  '{"outcome": "stale"}'::jsonb, 'an event exactly as old as the stored state is stale');
select is(
  public.apply_polar_webhook('msg_uma_c_old', 'subscription.updated', now(),
    pg_temp.change('cus_uma', '0d000000-0000-4000-8000-0000000000d0', '2026-11-01T00:00:00Z',
      '{"id": "sub_uma", "status": "active", "product_id": "prod_c",
        "version": "2026-11-27T08:00:00Z"}')),
  '{"outcome": "stale"}'::jsonb, 'and so is an older one');
select is((select product_id from public.polar_subscriptions where id = 'sub_uma'), 'prod_b',
  'so Uma''s plan is still B');
select results_eq(
  $$select user_id, polar_subscription_id, product_id from public.user_subscriptions
    where polar_subscription_id is not null$$,
  $$values ('0d000000-0000-4000-8000-0000000000d0'::uuid, 'sub_uma'::text, 'prod_b'::text)$$,
  'Uma''s events set her summary and no one else''s');

-- ----- Uma: the gates follow the plan --------------------------------------------------------------
reset role;
select pg_temp.as_user('0d000000-0000-4000-8000-0000000000d0');
select is(public.has_active_subscription('prod_b'), true, 'Uma has product B');
select is(public.has_active_subscription('prod_a'), false, 'and no longer product A');
select is(public.has_active_subscription('prod_c'), false, 'nor the stale events'' product C');

-- ----- service_role: Fay's snapshots, on both sides of the snapshot clock ---------------------------
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is(
  public.apply_polar_webhook('msg_fay_state_same', 'customer.state_changed', now(),
    pg_temp.change('cus_fay', 'f0000000-0000-4000-8000-00000000000f', '2026-11-01T00:00:00Z',
      null, jsonb_build_object('at', '2026-11-27T10:00:00Z', 'subscriptions', '[]'::jsonb,
        'grants', '[]'::jsonb, 'meters', '[]'::jsonb))),
  '{"outcome": "stale"}'::jsonb,
  'a snapshot built exactly when the applied one was is stale');
select is(
  (select count(*)::int from public.polar_benefit_grants
    where user_id = 'f0000000-0000-4000-8000-00000000000f'),
  1, 'and leaves Fay''s grant alone');
select is(
  public.apply_polar_webhook('msg_fay_state_newer', 'customer.state_changed', now(),
    pg_temp.change('cus_fay', 'f0000000-0000-4000-8000-00000000000f', '2026-11-01T00:00:00Z',
      null, jsonb_build_object('at', '2026-11-27T10:00:00.000001Z',
        'subscriptions', jsonb_build_array(jsonb_build_object('id', 'sub_fay_older',
          'status', 'active', 'product_id', 'prod_older', 'version', '2026-11-27T09:59:59.999999Z')),
        'grants', '[]'::jsonb, 'meters', '[]'::jsonb))),
  '{"outcome": "applied"}'::jsonb, 'one 1 µs newer applies');
select results_eq(
  $$select id, in_latest_state from public.polar_subscriptions
    where user_id = 'f0000000-0000-4000-8000-00000000000f' order by id$$,
  $$values ('sub_fay_as_old'::text, false), ('sub_fay_listed', false), ('sub_fay_newer', false),
    ('sub_fay_older', true)$$,
  'it marks which of Fay''s subscriptions it lists');
select is(
  (select count(*)::int from public.polar_benefit_grants
    where user_id = 'f0000000-0000-4000-8000-00000000000f'),
  0, 'and replaces Fay''s grants');
reset role;
select results_eq(
  $$select s.in_latest_state, u.polar_state_at, (select count(*)::int
      from public.polar_benefit_grants as g where g.user_id = s.user_id),
    (select count(*)::int from public.polar_meters as m where m.user_id = s.user_id)
    from public.polar_subscriptions as s join public.user_subscriptions as u using (user_id)
    where s.id = 'sub_gus'$$,
  $$values (true, '2026-11-27T10:00:00Z'::timestamptz, 1, 1)$$,
  'Fay''s snapshot leaves Gus''s subscriptions, snapshot clock, grants and meters alone');
set local role service_role;

-- ----- service_role: the customer clock, on both sides ----------------------------------------------
select is(
  public.apply_polar_webhook('msg_gus_customer_same', 'customer.updated', now(),
    pg_temp.change('cus_gus_2', '0a000000-0000-4000-8000-0000000000a0', '2026-11-01T00:00:00Z')),
  '{"outcome": "stale"}'::jsonb,
  'a customer event exactly as old as the stored link''s clock is stale');
select is(
  (select polar_customer_id from public.user_subscriptions
    where user_id = '0a000000-0000-4000-8000-0000000000a0'),
  'cus_gus', 'and does not move Gus''s link');
select is(
  public.apply_polar_webhook('msg_pia_customer_newer', 'customer.updated', now(),
    pg_temp.change('cus_pia', '0b000000-0000-4000-8000-0000000000b0',
      '2026-11-01T00:00:00.000001Z')),
  '{"outcome": "applied"}'::jsonb, 'one 1 µs newer applies');
select results_eq(
  $$select user_id, polar_customer_modified_at from public.user_subscriptions
    where user_id in ('0a000000-0000-4000-8000-0000000000a0',
      '0b000000-0000-4000-8000-0000000000b0') order by user_id$$,
  $$values ('0a000000-0000-4000-8000-0000000000a0'::uuid, '2026-11-01T00:00:00Z'::timestamptz),
    ('0b000000-0000-4000-8000-0000000000b0', '2026-11-01T00:00:00.000001Z')$$,
  'it moves Pia''s customer clock, and Gus''s not');

-- ----- The owners again: each user's gates after the others' changes --------------------------------
reset role;
select pg_temp.as_user('0a000000-0000-4000-8000-0000000000a0');
select is(public.has_active_subscription('prod_gus'), true,
  'Gus''s listed subscription still counts after Fay''s snapshot');
select is(public.has_entitlement('gus_key'), true, 'and so does his grant');
reset role;
select pg_temp.as_user('f0000000-0000-4000-8000-00000000000f');
select is(public.has_active_subscription('prod_older'), true,
  'Fay''s subscription that the newer snapshot lists counts now');
select is(public.has_active_subscription('prod_newer'), false,
  'and the one it leaves out, exactly as old as it, no longer does');

select * from finish();
rollback;
