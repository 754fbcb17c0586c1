-- =====================================================================================
-- hardening: what an attack found (issue 17). A legacy link counts for nothing but still
-- hears its ending events (G1); a customer that is gone takes its grants and meters (G2);
-- a soft delete queues the customer deletion once (G3); a cancelled delete queues nothing
-- (G7); billing_state reads the caller's rows only, whatever policies an app adds (G8);
-- and, over the catalog, every security definer function pins its search_path.
-- Users: Leo (linked by the previous version, unverified), Mia and Pat (verified), Ned
-- (soft-deleted), Ola (whose delete an app cancels), Quin (never linked).
-- =====================================================================================
begin;
select plan(41);

-- ----- Fixtures -----------------------------------------------------------------------------
insert into auth.users (id, email) values
  ('11111111-1111-4111-8111-111111111111', 'leo@example.com'),
  ('22222222-2222-4222-8222-222222222222', 'mia@example.com'),
  ('33333333-3333-4333-8333-333333333333', 'pat@example.com'),
  ('44444444-4444-4444-8444-444444444444', 'ned@example.com'),
  ('55555555-5555-4555-8555-555555555555', 'ola@example.com'),
  ('66666666-6666-4666-8666-666666666666', 'quin@example.com');
insert into public.user_subscriptions
  (user_id, polar_customer_id, polar_customer_verified, polar_customer_modified_at) values
  ('11111111-1111-4111-8111-111111111111', 'cus_leo', false, '2026-11-01T00:00:00Z'),
  ('22222222-2222-4222-8222-222222222222', 'cus_mia', true, '2026-11-01T00:00:00Z'),
  ('33333333-3333-4333-8333-333333333333', 'cus_pat', true, '2026-11-01T00:00:00Z'),
  ('44444444-4444-4444-8444-444444444444', 'cus_ned', true, '2026-11-01T00:00:00Z'),
  ('55555555-5555-4555-8555-555555555555', 'cus_ola', true, '2026-11-01T00:00:00Z');
insert into public.polar_subscriptions (id, user_id, polar_customer_id, status, polar_modified_at)
select 'sub_' || name, id, 'cus_' || name, 'active', '2026-11-02T00:00:00Z'
from (values ('leo', '11111111-1111-4111-8111-111111111111'::uuid),
  ('mia', '22222222-2222-4222-8222-222222222222'), ('pat', '33333333-3333-4333-8333-333333333333'),
  ('ned', '44444444-4444-4444-8444-444444444444')) as u (name, id);
insert into public.polar_benefit_grants (user_id, grant_id, benefit_id, benefit_type, benefit_metadata)
select id, 'grant_' || name, 'b_pro', 'feature_flag', '{"key": "pro"}'
from (values ('leo', '11111111-1111-4111-8111-111111111111'::uuid),
  ('mia', '22222222-2222-4222-8222-222222222222'), ('pat', '33333333-3333-4333-8333-333333333333'),
  ('ned', '44444444-4444-4444-8444-444444444444')) as u (name, id);
insert into public.polar_meters (user_id, meter_id, consumed_units, credited_units, balance) values
  ('22222222-2222-4222-8222-222222222222', 'meter_ai', 10, 100, 90),
  ('33333333-3333-4333-8333-333333333333', 'meter_ai', 20, 100, 80);

-- A change in apply_polar_webhook's format, for a customer, with or without its external_id.
create function pg_temp.change(
  customer text, external_id text, version text, deleted boolean default false,
  subscription jsonb default null, state jsonb default null
) returns jsonb language sql as $$
  select jsonb_build_object('customer_id', customer, 'external_id', external_id,
    'metadata_user_id', null, 'customer_version', version, 'customer_deleted', deleted,
    'subscription', subscription, 'state', state);
$$;

-- Asks a gate as a user.
create function pg_temp.as_user(id uuid) returns void language sql as $$
  select set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', jsonb_build_object('sub', id, 'role', 'authenticated')::text,
      true);
$$;

-- ----- Catalog ------------------------------------------------------------------------------------
select is_empty(
  $$select p.oid::regprocedure from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace
    where n.nspname in ('public', 'polar') and p.prosecdef
      and not ('search_path=""' = any (coalesce(p.proconfig, '{}')))$$,
  'every security definer function in public and polar sets search_path to empty');
select is_empty(
  $$select p.oid::regprocedure from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace
    where n.nspname = 'polar'
      and (has_function_privilege('anon', p.oid, 'execute')
        or has_function_privilege('authenticated', p.oid, 'execute')
        or has_function_privilege('service_role', p.oid, 'execute'))$$,
  'no API role may call a function in schema polar');
select has_column('public', 'user_subscriptions', 'polar_customer_verified',
  'a link says whether its customer''s external_id is verified');
select has_trigger('auth', 'users', 'polar_record_soft_deleted_user',
  'a soft delete is seen');
select hasnt_trigger('auth', 'users', 'polar_record_customer_deletion',
  'the BEFORE DELETE trigger is gone');

-- ----- anon and a signed-in user cannot list links -----------------------------------------------
set local role anon;
select throws_ok('select * from public.polar_unverified_links()', '42501',
  'permission denied for function polar_unverified_links', 'anon cannot list links');
reset role;
select pg_temp.as_user('11111111-1111-4111-8111-111111111111');
select throws_ok('select * from public.polar_unverified_links()', '42501',
  'permission denied for function polar_unverified_links', 'a user cannot list links');

-- ----- G1: a legacy link counts for nothing, on both sides of the boundary ------------------------
select is(public.has_active_subscription(), false,
  'Leo''s active subscription through an unverified link is not active');
select is(public.has_entitlement('pro'), false, 'nor is his grant an entitlement');
select is(public.billing_state() -> 'entitlements', '[]'::jsonb,
  'and billing_state lists no entitlement for him');
reset role;
select pg_temp.as_user('22222222-2222-4222-8222-222222222222');
select is(public.has_active_subscription(), true, 'Mia''s, through a verified link, is');
select is(public.has_entitlement('pro'), true, 'and her grant is an entitlement');
reset role;
set local role service_role;
select results_eq('select user_id, polar_customer_id from public.polar_unverified_links()',
  $$values ('11111111-1111-4111-8111-111111111111'::uuid, 'cus_leo'::text)$$,
  'the operator is told exactly which link to fix');
select is(
  public.apply_polar_webhook('msg_leo_revoked', 'subscription.revoked', now(),
    pg_temp.change('cus_leo', null, '2026-11-03T00:00:00Z', false,
      '{"id": "sub_leo", "status": "canceled", "version": "2026-11-03T00:00:00Z"}')),
  '{"outcome": "applied"}'::jsonb,
  'an ending event of a customer without external_id reaches the stored link');
select results_eq(
  $$select s.status, u.polar_customer_id, u.polar_customer_verified
    from public.polar_subscriptions as s join public.user_subscriptions as u using (user_id)
    where s.id = 'sub_leo'$$,
  $$values ('canceled'::text, 'cus_leo'::text, false)$$,
  'the subscription ended, the link is kept and stays unverified');
select is(
  public.apply_polar_webhook('msg_stranger', 'subscription.active', now(),
    pg_temp.change('cus_stranger', null, '2026-11-03T00:00:00Z', false,
      '{"id": "sub_stranger", "status": "active", "version": "2026-11-03T00:00:00Z"}')),
  '{"outcome": "skipped", "reason": "customer has no external_id"}'::jsonb,
  'a customer without external_id that no row stores is skipped');
select is(
  public.apply_polar_webhook('msg_leo_new', 'subscription.active', now(),
    pg_temp.change('cus_leo', null, '2026-11-04T00:00:00Z', false,
      '{"id": "sub_leo_2", "status": "active", "version": "2026-11-04T00:00:00Z"}')) ->> 'outcome',
  'applied', 'a new subscription through the stored link is stored');
select is(
  public.link_polar_customer('11111111-1111-4111-8111-111111111111', 'cus_leo',
    '11111111-1111-4111-8111-111111111111', '2026-11-05T00:00:00Z'),
  '{"outcome": "linked"}'::jsonb, 'link-customer verifies the link it already holds');
select is(
  public.link_polar_customer('11111111-1111-4111-8111-111111111111', 'cus_leo',
    '11111111-1111-4111-8111-111111111111', '2026-11-05T00:00:00Z'),
  '{"outcome": "unchanged"}'::jsonb, 'and a second time changes nothing');
reset role;
select pg_temp.as_user('11111111-1111-4111-8111-111111111111');
select is(public.has_active_subscription(), true, 'once verified, Leo''s live subscription counts');

-- ----- G2: a customer that is gone takes its grants and meters ------------------------------------
reset role;
set local role service_role;
select is(
  public.apply_polar_webhook('msg_mia_deleted', 'customer.deleted', now(),
    pg_temp.change('cus_mia', null, '2026-11-06T00:00:00Z', true)),
  '{"outcome": "applied"}'::jsonb,
  'customer.deleted (Polar clears the external_id) reaches the stored link');
select results_eq(
  $$select polar_customer_id, (select count(*)::int from public.polar_benefit_grants as g
      where g.user_id = s.user_id), (select count(*)::int from public.polar_meters as m
      where m.user_id = s.user_id)
    from public.user_subscriptions as s where s.user_id = '22222222-2222-4222-8222-222222222222'$$,
  $$values (null::text, 0, 0)$$,
  'Mia''s link, grants and meters are gone in the same transaction');
select is(
  public.apply_polar_webhook('msg_mia_late_state', 'customer.state_changed', now(),
    pg_temp.change('cus_mia', '22222222-2222-4222-8222-222222222222', '2026-11-05T00:00:00Z',
      false, null, jsonb_build_object('at', '2026-11-05T12:00:00Z', 'subscriptions', '[]'::jsonb,
        'meters', '[]'::jsonb, 'grants', jsonb_build_array(jsonb_build_object('id', 'g_late',
          'benefit_id', 'b_pro', 'benefit_type', 'feature_flag',
          'benefit_metadata', '{"key": "pro"}'::jsonb))))) ->> 'outcome',
  'stale', 'a snapshot built before the deletion, delivered after it, changes nothing');
select is(
  (select count(*)::int from public.polar_benefit_grants
    where user_id = '22222222-2222-4222-8222-222222222222'),
  0, 'so it brings no grant back');
select results_eq(
  $$select count(*)::int from public.polar_benefit_grants
    where user_id = '33333333-3333-4333-8333-333333333333'
    union all select count(*)::int from public.polar_meters
    where user_id = '33333333-3333-4333-8333-333333333333'$$,
  $$values (1), (1)$$, 'Pat''s grants and meters are untouched');
select is(
  public.unlink_missing_polar_customer('33333333-3333-4333-8333-333333333333', 'cus_other'),
  false, 'a missing customer Pat is not linked to leaves Pat alone');
select is(
  (select count(*)::int from public.polar_benefit_grants
    where user_id = '33333333-3333-4333-8333-333333333333'),
  1, 'with his grant');
reset role;
select pg_temp.as_user('22222222-2222-4222-8222-222222222222');
select is(public.has_entitlement('pro'), false, 'Mia is no longer entitled');
select is(public.has_active_subscription(), false, 'and her subscription of the gone customer does not count');

-- ----- G3: a soft delete queues the customer deletion, once ------------------------------------------
reset role;
update auth.users set deleted_at = now() where id = '44444444-4444-4444-8444-444444444444';
select results_eq(
  $$select user_id, polar_customer_id, completed_at is null from polar.customer_deletions$$,
  $$values ('44444444-4444-4444-8444-444444444444'::uuid, 'cus_ned'::text, true)$$,
  'a soft-deleted user''s customer is queued for deletion');
select results_eq(
  $$select polar_customer_id, (select count(*)::int from public.polar_benefit_grants as g
      where g.user_id = s.user_id)
    from public.user_subscriptions as s where s.user_id = '44444444-4444-4444-8444-444444444444'$$,
  $$values (null::text, 0)$$, 'and the link ends with its grants at once');
select is(polar.user_id_of('44444444-4444-4444-8444-444444444444'), null,
  'a soft-deleted user is no user for the webhooks');
set local role service_role;
select is_empty($$select public.polar_known_users(array['44444444-4444-4444-8444-444444444444'])$$,
  'nor for the reconcile');
reset role;
update auth.users set email = 'gone@example.com' where id = '44444444-4444-4444-8444-444444444444';
delete from auth.users where id = '44444444-4444-4444-8444-444444444444';
select results_eq(
  $$select count(*)::int, min(polar_customer_id) from polar.customer_deletions
    where user_id = '44444444-4444-4444-8444-444444444444'$$,
  $$values (1, 'cus_ned'::text)$$,
  'a later update and hard delete queue nothing more');

-- ----- G7: only rows really deleted are queued ---------------------------------------------------------
create function pg_temp.keep_ola() returns trigger language plpgsql as $$
begin
  return case when old.id = '55555555-5555-4555-8555-555555555555' then null else old end;
end;
$$;
create trigger app_keeps_ola before delete on auth.users
  for each row execute function pg_temp.keep_ola();
delete from auth.users where id = '55555555-5555-4555-8555-555555555555';
select isnt_empty($$select 1 from auth.users where id = '55555555-5555-4555-8555-555555555555'$$,
  'the app''s trigger kept Ola');
select is_empty(
  $$select 1 from polar.customer_deletions where user_id = '55555555-5555-4555-8555-555555555555'$$,
  'so her customer is not queued for deletion');
drop trigger app_keeps_ola on auth.users;
delete from auth.users where id = '66666666-6666-4666-8666-666666666666';
select results_eq(
  $$select polar_customer_id from polar.customer_deletions
    where user_id = '66666666-6666-4666-8666-666666666666'$$,
  $$values (null::text)$$,
  'a user never linked is queued by external id alone');

-- ----- G8: billing_state is the caller's, whatever policies an app adds ----------------------------
create policy "Support can read every subscription summary" on public.user_subscriptions
  for select to authenticated using (true);
create policy "Support can read every subscription" on public.polar_subscriptions
  for select to authenticated using (true);
create policy "Support can read every grant" on public.polar_benefit_grants
  for select to authenticated using (true);
create policy "Support can read every meter" on public.polar_meters
  for select to authenticated using (true);
insert into public.polar_meters (user_id, meter_id, consumed_units, credited_units, balance) values
  ('11111111-1111-4111-8111-111111111111', 'meter_ai', 5, 100, 95);
select pg_temp.as_user('33333333-3333-4333-8333-333333333333');
select is(public.billing_state() ->> 'polar_customer_id', 'cus_pat', 'Pat reads his own link');
select is(public.billing_state() -> 'subscriptions' -> 0 ->> 'id', 'sub_pat',
  'and his own subscription first');
select is(jsonb_array_length(public.billing_state() -> 'subscriptions'), 1,
  'and no one else''s, although a policy lets him read them');
select is(jsonb_array_length(public.billing_state() -> 'meters'), 1, 'only his own meter');

select * from finish();
rollback;
