-- =====================================================================================
-- entitlements: polar_subscriptions, polar_benefit_grants, polar_meters and the gates
-- has_entitlement / has_active_subscription. One section per role: owner of the rows,
-- another user, anon, service role; then snapshots through apply_polar_webhook.
-- =====================================================================================
begin;
select plan(54);

-- ----- Fixtures: Fay holds "pro" through an active subscription; Gus has nothing --------
insert into auth.users (id, email) values
  ('88888888-8888-4888-8888-888888888888', 'fay@example.com'),
  ('99999999-9999-4999-8999-999999999999', 'gus@example.com');
insert into public.user_subscriptions
  (user_id, polar_customer_id, polar_customer_verified, polar_state_at) values
  ('88888888-8888-4888-8888-888888888888', 'cus_fay', true, '2026-11-27T10:00:00Z');
insert into public.polar_subscriptions
  (id, user_id, polar_customer_id, product_id, status, in_latest_state, polar_modified_at)
values
  ('sub_fay_pro', '88888888-8888-4888-8888-888888888888', 'cus_fay', 'prod_pro', 'active',
    true, '2026-11-27T09:00:00Z'),
  ('sub_fay_old', '88888888-8888-4888-8888-888888888888', 'cus_fay', 'prod_team', 'active',
    false, '2026-11-27T08:00:00Z');
insert into public.polar_benefit_grants
  (user_id, grant_id, benefit_id, benefit_type, benefit_metadata, properties)
values
  ('88888888-8888-4888-8888-888888888888', 'grant_1', 'benefit_pro', 'feature_flag',
    '{"key": "pro"}', '{}'),
  ('88888888-8888-4888-8888-888888888888', 'grant_2', 'benefit_license', 'license_keys',
    '{}', '{"display_key": "****-1234"}');
insert into public.polar_meters (user_id, meter_id, consumed_units, credited_units, balance) values
  ('88888888-8888-4888-8888-888888888888', 'meter_ai', 25, 100, 75);

-- ----- Schema -----------------------------------------------------------------------------
select has_table('public', 'polar_subscriptions', 'polar_subscriptions exists');
select has_table('public', 'polar_benefit_grants', 'polar_benefit_grants exists');
select has_table('public', 'polar_meters', 'polar_meters exists');
select col_is_pk('public', 'polar_subscriptions', 'id', 'one row per Polar subscription');
select col_is_pk('public', 'polar_benefit_grants', array['user_id', 'grant_id'],
  'one row per grant of a user');
select col_is_pk('public', 'polar_meters', array['user_id', 'meter_id'], 'one row per meter of a user');
select has_column('public', 'user_subscriptions', 'polar_state_at',
  'user_subscriptions keeps when the latest applied snapshot was built');
select ok(
  (select bool_and(relrowsecurity) from pg_class
    where oid in ('public.polar_subscriptions'::regclass, 'public.polar_benefit_grants'::regclass,
      'public.polar_meters'::regclass)),
  'row level security is on for the three tables');
select is(
  (select count(*)::int from pg_policies
    where schemaname = 'public'
      and tablename in ('polar_subscriptions', 'polar_benefit_grants', 'polar_meters')),
  3, 'one policy each, and no write policies');
select is_definer('public', 'has_entitlement', array['text'],
  'has_entitlement is security definer (it answers false for roles that cannot read grants)');
select is_definer('public', 'has_active_subscription', array['text'],
  'has_active_subscription is security definer');
select is(
  (select array_agg(provolatile::text order by proname) from pg_proc
    where oid in ('public.has_entitlement(text)'::regprocedure,
      'public.has_active_subscription(text)'::regprocedure)),
  array['s', 's'], 'both gates are stable');
select is(
  (select array_agg(array_to_string(proconfig, ',') order by proname) from pg_proc
    where oid in ('public.has_entitlement(text)'::regprocedure,
      'public.has_active_subscription(text)'::regprocedure)),
  array['search_path=""', 'search_path=""'], 'both gates pin an empty search_path');

-- ----- Privileges -------------------------------------------------------------------------
select table_privs_are('public', 'polar_subscriptions', 'anon', array[]::text[],
  'anon has no privilege on polar_subscriptions');
select table_privs_are('public', 'polar_benefit_grants', 'anon', array[]::text[],
  'anon has no privilege on polar_benefit_grants');
select table_privs_are('public', 'polar_meters', 'anon', array[]::text[],
  'anon has no privilege on polar_meters');
select table_privs_are('public', 'polar_subscriptions', 'authenticated', array['SELECT'],
  'authenticated may only select polar_subscriptions');
select table_privs_are('public', 'polar_benefit_grants', 'authenticated', array['SELECT'],
  'authenticated may only select polar_benefit_grants');
select table_privs_are('public', 'polar_meters', 'authenticated', array['SELECT'],
  'authenticated may only select polar_meters');
select function_privs_are('public', 'has_entitlement', array['text'], 'anon', array['EXECUTE'],
  'anon may call has_entitlement (it answers false)');
select function_privs_are('public', 'has_active_subscription', array['text'], 'authenticated',
  array['EXECUTE'], 'authenticated may call has_active_subscription');
select ok(
  not exists (
    select from pg_proc, aclexplode(proacl) as acl
    where pg_proc.oid in ('public.has_entitlement(text)'::regprocedure,
      'public.has_active_subscription(text)'::regprocedure)
      and acl.grantee = 0),
  'PUBLIC has no execute on the gates (granted to the API roles by name)');
select function_privs_are('polar', 'apply_customer_state', array['uuid', 'text', 'jsonb'],
  'service_role', array[]::text[], 'applying a snapshot is internal to apply_polar_webhook');
select function_privs_are('polar', 'refresh_summary', array['uuid'], 'service_role',
  array[]::text[], 'the summary refresh is internal');

-- ----- The owner: Fay ----------------------------------------------------------------------
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"88888888-8888-4888-8888-888888888888","role":"authenticated"}', true);
select is(public.has_entitlement('pro'), true, 'Fay is entitled to "pro" by the benefit''s key');
select is(public.has_entitlement('benefit_license'), true,
  'a benefit id is a key too');
select is(public.has_entitlement('enterprise'), false, 'no grant, no entitlement');
select is(public.has_active_subscription(), true, 'Fay has an active subscription');
select is(public.has_active_subscription('prod_pro'), true, 'of the product she pays for');
select is(public.has_active_subscription('prod_team'), false,
  'not of one the latest snapshot no longer lists');
select results_eq(
  'select id from public.polar_subscriptions order by id',
  $$values ('sub_fay_old'::text), ('sub_fay_pro')$$,
  'Fay reads her own subscriptions');
select results_eq(
  $$select properties ->> 'display_key' from public.polar_benefit_grants where grant_id = 'grant_2'$$,
  $$values ('****-1234'::text)$$,
  'Fay reads her license key''s display key');
select results_eq('select balance from public.polar_meters', $$values (75::numeric)$$,
  'Fay reads her meter');
select throws_ok(
  $$insert into public.polar_benefit_grants (user_id, grant_id, benefit_id, benefit_type)
    values ('88888888-8888-4888-8888-888888888888', 'free', 'benefit_x', 'feature_flag')$$,
  '42501', 'permission denied for table polar_benefit_grants',
  'Fay cannot grant herself a benefit');
select throws_ok(
  $$update public.polar_subscriptions set status = 'active'$$,
  '42501', 'permission denied for table polar_subscriptions',
  'Fay cannot change her subscriptions');

-- ----- Another user: Gus -----------------------------------------------------------------
reset role;
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"99999999-9999-4999-8999-999999999999","role":"authenticated"}', true);
select is(public.has_entitlement('pro'), false, 'Gus is not entitled to "pro"');
select is(public.has_active_subscription(), false, 'Gus has no subscription');
select is(public.has_active_subscription('prod_pro'), false, 'nor Fay''s product');
select is_empty('select * from public.polar_subscriptions', 'Gus sees none of Fay''s subscriptions');
select is_empty('select * from public.polar_benefit_grants', 'Gus sees none of Fay''s grants');
select is_empty('select * from public.polar_meters', 'Gus sees none of Fay''s meters');

-- ----- anon --------------------------------------------------------------------------------
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select is(public.has_entitlement('pro'), false, 'anon is entitled to nothing');
select is(public.has_active_subscription(), false, 'anon has no subscription');
select throws_ok('select * from public.polar_benefit_grants', '42501',
  'permission denied for table polar_benefit_grants', 'anon cannot read grants');

-- ----- service_role: snapshots through apply_polar_webhook ----------------------------------
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is(
  public.apply_polar_webhook('msg_state_old', 'customer.state_changed', '2026-11-27T09:30:00Z',
    jsonb_build_object(
      'customer_id', 'cus_fay', 'external_id', '88888888-8888-4888-8888-888888888888',
      'metadata_user_id', null, 'customer_version', '2026-11-27T07:00:00Z',
      'customer_deleted', false, 'subscription', null,
      'state', jsonb_build_object('at', '2026-11-27T09:30:00Z', 'subscriptions', '[]'::jsonb,
        'grants', '[]'::jsonb, 'meters', '[]'::jsonb))),
  '{"outcome": "applied"}'::jsonb,
  'the customer part of an older snapshot still applies by its own clock');
select is(
  (select count(*)::int from public.polar_benefit_grants
    where user_id = '88888888-8888-4888-8888-888888888888'),
  2, 'but a snapshot older than the latest applied one leaves the grants alone');
select is(
  public.apply_polar_webhook('msg_state_new', 'customer.state_changed', '2026-11-27T11:00:00Z',
    jsonb_build_object(
      'customer_id', 'cus_fay', 'external_id', '88888888-8888-4888-8888-888888888888',
      'metadata_user_id', null, 'customer_version', '2026-11-27T07:00:00Z',
      'customer_deleted', false, 'subscription', null,
      'state', jsonb_build_object('at', '2026-11-27T11:00:00Z', 'subscriptions', '[]'::jsonb,
        'grants', jsonb_build_array(jsonb_build_object('id', 'grant_3', 'benefit_id', 'benefit_beta',
          'benefit_type', 'feature_flag', 'benefit_metadata', '{"key": "beta"}'::jsonb,
          'properties', '{}'::jsonb, 'granted_at', '2026-11-27T10:59:00Z')),
        'meters', '[]'::jsonb))),
  '{"outcome": "applied"}'::jsonb,
  'a newer snapshot applies');
select results_eq(
  $$select grant_id from public.polar_benefit_grants
    where user_id = '88888888-8888-4888-8888-888888888888'$$,
  $$values ('grant_3'::text)$$,
  'its grants replace the old ones');
select is_empty(
  $$select 1 from public.polar_meters where user_id = '88888888-8888-4888-8888-888888888888'$$,
  'and its meters too');
select is(
  (select bool_or(in_latest_state) from public.polar_subscriptions
    where user_id = '88888888-8888-4888-8888-888888888888'),
  false, 'subscriptions it does not list are no longer in the latest state');
select throws_ok(
  $$select public.apply_polar_webhook('msg_state_bad', 'customer.state_changed', now(),
    jsonb_build_object('customer_id', 'cus_fay', 'external_id', null, 'metadata_user_id', null,
      'customer_version', now(), 'customer_deleted', false, 'subscription', null,
      'state', jsonb_build_object('at', now(), 'subscriptions', '{}'::jsonb,
        'grants', '[]'::jsonb, 'meters', '[]'::jsonb)))$$,
  '22023', 'change is missing required fields',
  'a snapshot whose subscriptions are not a list is refused');

-- ----- The owner again: the gates follow the newer snapshot --------------------------------
reset role;
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"88888888-8888-4888-8888-888888888888","role":"authenticated"}', true);
select is(public.has_entitlement('pro'), false, 'the "pro" grant is gone with the snapshot');
select is(public.has_entitlement('beta'), true, 'the new grant counts');
select is(public.has_active_subscription(), false,
  'subscriptions older than a snapshot that leaves them out are not active');

select * from finish();
rollback;
