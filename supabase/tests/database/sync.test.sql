-- =====================================================================================
-- sync: the pull path's functions, billing_state, and the account-deletion outbox.
-- One section per role: anon, the owner, another user, the service role; then the
-- owner's view of the outbox after a deletion.
-- =====================================================================================
begin;
select plan(29);

-- ----- Fixtures ---------------------------------------------------------------------------
insert into auth.users (id, email) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'hal@example.com'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'ivy@example.com');
insert into public.user_subscriptions (user_id, polar_customer_id, polar_customer_verified) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'cus_hal', true);
insert into public.polar_benefit_grants
  (user_id, grant_id, benefit_id, benefit_type, benefit_metadata) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'g1', 'b_pro', 'feature_flag', '{"key": "pro"}');

create temporary table pulled (label text primary key, change jsonb) on commit drop;
grant select on pulled to authenticated, service_role;
insert into pulled values
  ('hal''s state', jsonb_build_object(
    'customer_id', 'cus_hal', 'external_id', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
    'metadata_user_id', null, 'customer_version', '2026-11-27T08:00:00Z',
    'customer_deleted', false, 'subscription', null,
    'state', jsonb_build_object('at', '2026-11-27T12:00:00Z', 'subscriptions', '[]'::jsonb,
      'grants', jsonb_build_array(jsonb_build_object('id', 'g2', 'benefit_id', 'b_team',
        'benefit_type', 'feature_flag', 'benefit_metadata', '{"key": "team"}'::jsonb,
        'properties', '{}'::jsonb, 'granted_at', null)),
      'meters', '[]'::jsonb)));

-- ----- Schema and privileges -----------------------------------------------------------------
select has_table('polar', 'customer_deletions', 'the deletion outbox exists');
select has_table('polar', 'reconcile_runs', 'reconcile runs are kept');
select table_privs_are('polar', 'customer_deletions', 'service_role', array[]::text[],
  'service_role reaches the outbox only through its functions');
select has_trigger('auth', 'users', 'polar_record_deleted_user',
  'deleting a user records an outbox row');
select function_privs_are('public', 'billing_state', array[]::text[], 'authenticated',
  array['EXECUTE'], 'a signed-in user may read their own billing state');
select function_privs_are('public', 'billing_state', array[]::text[], 'anon', array[]::text[],
  'anon cannot call billing_state');
select is(
  (select count(*)::int from pg_proc as p, aclexplode(p.proacl) as acl
    where p.oid in (
      'public.claim_polar_user_sync(uuid, interval, numeric, integer)'::regprocedure,
      'public.take_polar_sync_budget(numeric, integer)'::regprocedure,
      'public.apply_polar_state(uuid, jsonb)'::regprocedure,
      'public.unlink_missing_polar_customer(uuid, text)'::regprocedure,
      'public.pending_polar_customer_deletions(integer)'::regprocedure,
      'public.finish_polar_customer_deletion(bigint, text)'::regprocedure,
      'public.polar_known_users(text[])'::regprocedure,
      'public.polar_unreconciled_users(timestamptz, integer)'::regprocedure,
      'public.polar_skipped_deliveries(timestamptz)'::regprocedure)
      and acl.privilege_type = 'EXECUTE'
      and acl.grantee <> (select oid from pg_roles where rolname = 'service_role')
      and acl.grantee <> p.proowner),
  0, 'the sync''s service functions are executable by service_role alone');

-- ----- anon -------------------------------------------------------------------------------
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok(
  $$select public.claim_polar_user_sync('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '0'::interval, 100, 5)$$,
  '42501', 'permission denied for function claim_polar_user_sync', 'anon cannot claim a sync');
select throws_ok('select public.billing_state()', '42501',
  'permission denied for function billing_state', 'anon has no billing state');

-- ----- The owner: Hal ------------------------------------------------------------------------
reset role;
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa","role":"authenticated"}', true);
select is(public.billing_state() ->> 'polar_customer_id', 'cus_hal', 'Hal reads his link');
select is(public.billing_state() -> 'entitlements', '["pro"]'::jsonb, 'and his entitlement keys');
select throws_ok(
  $$select public.apply_polar_state('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
    (select change from pulled where label = 'hal''s state'))$$,
  '42501', 'permission denied for function apply_polar_state',
  'Hal cannot apply a state to himself');

-- ----- Another user: Ivy -------------------------------------------------------------------
reset role;
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","role":"authenticated"}', true);
select is(public.billing_state() ->> 'polar_customer_id', null, 'Ivy sees no link of Hal''s');
select is(public.billing_state() -> 'entitlements', '[]'::jsonb, 'nor his entitlements');

-- ----- service_role ------------------------------------------------------------------------
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is(public.claim_polar_user_sync('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '5 seconds', 100, 5),
  '{"outcome": "claimed", "polar_customer_id": "cus_hal"}'::jsonb, 'the first pull is allowed');
select is(
  public.claim_polar_user_sync('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '5 seconds', 100, 5) ->> 'outcome',
  'recent', 'a second within the interval is not');
update public.user_subscriptions set polar_synced_at = now() - interval '5 seconds'
where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
select is(
  public.claim_polar_user_sync('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '5 seconds', 100, 5) ->> 'outcome',
  'claimed', 'one the whole interval later is');
select is(
  public.claim_polar_user_sync('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', '5 seconds', 100, 5) ->> 'outcome',
  'no_customer', 'no pull for a user without a linked customer');
select is(
  public.claim_polar_user_sync('cccccccc-cccc-4ccc-8ccc-cccccccccccc', '5 seconds', 100, 5) ->> 'outcome',
  'no_customer', 'no pull for a user who does not exist');
select is(
  public.apply_polar_state('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
    (select change from pulled where label = 'hal''s state')),
  '{"outcome": "skipped", "reason": "identity conflict"}'::jsonb,
  'a state whose external_id is another user is not applied to the caller');
select is(
  public.apply_polar_state('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
    (select change from pulled where label = 'hal''s state')),
  $${"outcome": "applied", "changed": true, "stale_subscriptions": []}$$::jsonb,
  'Hal''s own pulled state applies');
select is(
  public.apply_polar_state('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
    (select change from pulled where label = 'hal''s state')),
  $${"outcome": "stale", "changed": false, "stale_subscriptions": []}$$::jsonb,
  'the same pull again is stale');
select results_eq(
  $$select grant_id from public.polar_benefit_grants
    where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'$$,
  $$values ('g2'::text)$$,
  'the pulled snapshot replaced the grants');
select throws_ok(
  $$select public.apply_polar_state('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
    (select change from pulled where label = 'hal''s state') - 'state')$$,
  '22023', 'change is missing required fields', 'a pull without a state or subscription is refused');
select is(
  public.unlink_missing_polar_customer('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'cus_other'),
  false, 'a link to another customer is left alone');
-- The reconcile run's functions (and their lease) are tested in reconcile_pages.test.sql.

-- ----- Deleting a user writes the outbox row in the same transaction -------------------------
reset role;
delete from auth.users where id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
select results_eq(
  $$select user_id, polar_customer_id, completed_at is null
    from polar.customer_deletions$$,
  $$values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'::uuid, 'cus_hal'::text, true)$$,
  'the deleted user''s customer is queued for deletion in Polar');
select is_empty(
  $$select 1 from public.user_subscriptions where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'$$,
  'the user''s billing rows are gone with the user');
set local role service_role;
select public.finish_polar_customer_deletion(
  (select id from public.pending_polar_customer_deletions()), 'Polar is down');
select is(
  (select count(*)::int from public.pending_polar_customer_deletions()),
  1, 'a failed attempt keeps the row pending');
reset role;
select results_eq(
  'select attempts, last_error from polar.customer_deletions',
  $$values (1, 'Polar is down'::text)$$,
  'and records the attempt and its error');

select * from finish();
rollback;
