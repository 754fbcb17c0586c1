-- =====================================================================================
-- reconcile_pages: the reconcile run's lease (one worker per run), its staged pages and the
-- batch that applies them through apply_polar_state. Privileges first, then anon and a
-- signed-in user refused, then the service role: the lease, then the pages and batches.
-- =====================================================================================
begin;
select plan(35);

-- ----- Fixtures ---------------------------------------------------------------------------
insert into auth.users (id, email) values
  ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'ada@example.com'),
  ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'bob@example.com');
-- Bob's newer webhook snapshot (built an hour after any run of this test starts).
insert into public.user_subscriptions
  (user_id, polar_customer_id, polar_customer_verified, polar_state_at) values
  ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'cus_bob', true, now() + interval '1 hour');
insert into public.polar_benefit_grants
  (user_id, grant_id, benefit_id, benefit_type, benefit_metadata) values
  ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'g_bob_new', 'b_team', 'feature_flag', '{"key": "team"}');

create temporary table pages (kind text primary key, items jsonb) on commit drop;
grant select on pages to anon, authenticated, service_role;
insert into pages values
  ('customer', jsonb_build_array(
    jsonb_build_object('id', 'cus_ada', 'customer_id', 'cus_ada',
      'external_id', 'AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA',
      'body', jsonb_build_object('version', '2026-11-30T08:00:00Z')),
    jsonb_build_object('id', 'cus_bob', 'customer_id', 'cus_bob',
      'external_id', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
      'body', jsonb_build_object('version', '2026-11-30T08:00:00Z')),
    jsonb_build_object('id', 'cus_gone', 'customer_id', 'cus_gone',
      'external_id', 'cccccccc-cccc-4ccc-8ccc-cccccccccccc',
      'body', jsonb_build_object('version', '2026-11-30T08:00:00Z')),
    jsonb_build_object('id', 'cus_legacy', 'customer_id', 'cus_legacy', 'external_id', null,
      'body', jsonb_build_object('version', '2026-11-30T08:00:00Z')))),
  ('subscription', jsonb_build_array(
    jsonb_build_object('id', 'sub_ada', 'customer_id', 'cus_ada',
      'external_id', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
      'body', jsonb_build_object('id', 'sub_ada', 'status', 'active', 'product_id', 'p_pro',
        'version', '2026-11-30T08:00:00Z', 'cancel_at_period_end', false)))),
  ('grant', jsonb_build_array(
    jsonb_build_object('id', 'g_ada', 'customer_id', 'cus_ada',
      'external_id', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
      'body', jsonb_build_object('id', 'g_ada', 'benefit_id', 'b_pro',
        'benefit_type', 'feature_flag', 'benefit_metadata', '{"key": "pro"}'::jsonb,
        'properties', '{}'::jsonb, 'granted_at', null)),
    jsonb_build_object('id', 'g_bob_old', 'customer_id', 'cus_bob',
      'external_id', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb',
      'body', jsonb_build_object('id', 'g_bob_old', 'benefit_id', 'b_pro',
        'benefit_type', 'feature_flag', 'benefit_metadata', '{"key": "pro"}'::jsonb,
        'properties', '{}'::jsonb, 'granted_at', null)))),
  ('meter', jsonb_build_array(
    jsonb_build_object('id', 'cm_ada', 'customer_id', 'cus_ada',
      'external_id', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
      'body', jsonb_build_object('meter_id', 'm_api', 'consumed_units', 25,
        'credited_units', 100, 'balance', 75))));

create temporary table leases (label text primary key, run jsonb) on commit drop;
grant select, insert on leases to service_role;

-- ----- Schema and privileges -----------------------------------------------------------------
select has_table('polar', 'reconcile_staged', 'a run''s pages are staged');
select table_privs_are('polar', 'reconcile_staged', 'service_role', array[]::text[],
  'service_role reaches the staged pages only through the functions');
select hasnt_function('public', 'begin_polar_reconcile', array['boolean'],
  'the lease-less begin is gone');
select is(
  (select count(*)::int from pg_proc as p, aclexplode(p.proacl) as acl
    where p.oid in (
      'public.begin_polar_reconcile(boolean, integer)'::regprocedure,
      'public.save_polar_reconcile(bigint, uuid, integer, text, jsonb)'::regprocedure,
      'public.release_polar_reconcile(bigint, uuid)'::regprocedure,
      'public.stage_polar_reconcile_page(bigint, uuid, text, jsonb, integer, text, jsonb)'::regprocedure,
      'public.apply_polar_reconcile_batch(bigint, uuid, integer)'::regprocedure,
      'public.polar_reconcile_stale(bigint, integer)'::regprocedure,
      'public.finish_polar_reconcile_stale(bigint, uuid, text[])'::regprocedure,
      'public.apply_polar_states(jsonb)'::regprocedure)
      and acl.privilege_type = 'EXECUTE'
      and acl.grantee <> (select oid from pg_roles where rolname = 'service_role')
      and acl.grantee <> p.proowner),
  0, 'the reconcile''s functions are executable by service_role alone');
select is(
  (select count(*)::int from pg_proc as p
    where p.oid in (
      'public.begin_polar_reconcile(boolean, integer)'::regprocedure,
      'public.apply_polar_reconcile_batch(bigint, uuid, integer)'::regprocedure,
      'public.apply_polar_states(jsonb)'::regprocedure)
      and has_function_privilege('service_role', p.oid, 'EXECUTE')),
  3, 'and service_role may execute them');

-- ----- anon -------------------------------------------------------------------------------
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok('select public.begin_polar_reconcile()', '42501',
  'permission denied for function begin_polar_reconcile', 'anon cannot take the lease');
select throws_ok($$select public.apply_polar_states('[]')$$, '42501',
  'permission denied for function apply_polar_states', 'anon cannot apply states');

-- ----- A signed-in user --------------------------------------------------------------------
reset role;
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa","role":"authenticated"}', true);
select throws_ok('select public.begin_polar_reconcile()', '42501',
  'permission denied for function begin_polar_reconcile', 'a user cannot take the lease');
select throws_ok(
  $$select public.apply_polar_reconcile_batch(1, gen_random_uuid())$$, '42501',
  'permission denied for function apply_polar_reconcile_batch', 'nor apply a batch');
select throws_ok(
  $$select * from public.polar_reconcile_stale(1)$$, '42501',
  'permission denied for function polar_reconcile_stale', 'nor read the stale subscriptions');

-- ----- service_role: the lease -----------------------------------------------------------------
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is(public.begin_polar_reconcile(true), null, 'resume-only starts nothing');
insert into leases values ('first', public.begin_polar_reconcile());
select is((select (run ->> 'resumed')::boolean from leases where label = 'first'), false,
  'a run starts, with its lease');
select is((select run ->> 'since' from leases where label = 'first'), null,
  'the first run reads ended subscriptions from the beginning');
select is(public.begin_polar_reconcile() ->> 'busy', 'true',
  'a second begin is refused while the lease is held');
select is(public.begin_polar_reconcile(true) ->> 'busy', 'true', 'so is a second resume');
select throws_ok(
  $$select public.save_polar_reconcile((select (run ->> 'id')::bigint from leases),
    gen_random_uuid(), 2, 'customers', '{}')$$,
  '55P03', null, 'a save without the lease is refused');
select lives_ok(
  $$select public.save_polar_reconcile((run ->> 'id')::bigint, (run ->> 'lease')::uuid, 2,
    'customers', '{"pages": 1}') from leases where label = 'first'$$,
  'the holder saves');
select lives_ok(
  $$select public.release_polar_reconcile((run ->> 'id')::bigint, (run ->> 'lease')::uuid)
    from leases where label = 'first'$$,
  'and releases the lease when its call ends');
insert into leases values ('second', public.begin_polar_reconcile(true));
select results_eq(
  $$select (run ->> 'resumed')::boolean, run ->> 'next_page', run -> 'counts'
    from leases where label = 'second'$$,
  $$values (true, '2', '{"pages": 1}'::jsonb)$$,
  'a released run is taken over where it was');
select throws_ok(
  $$select public.save_polar_reconcile((run ->> 'id')::bigint, (run ->> 'lease')::uuid, 3,
    'customers', '{}') from leases where label = 'first'$$,
  '55P03', null, 'the old holder can no longer save');
reset role;
update polar.reconcile_runs set lease_expires_at = now() - interval '1 second';
set local role service_role;
insert into leases values ('third', public.begin_polar_reconcile());
select is((select (run ->> 'resumed')::boolean from leases where label = 'third'), true,
  'a lapsed lease (its worker killed) is taken over');

-- ----- service_role: pages and batches ---------------------------------------------------------
select lives_ok(
  $$select public.stage_polar_reconcile_page((l.run ->> 'id')::bigint, (l.run ->> 'lease')::uuid,
      p.kind, p.items, 1, 'apply', '{}')
    from leases as l, pages as p where l.label = 'third'$$,
  'every page is staged');
select throws_ok(
  $$select public.stage_polar_reconcile_page((run ->> 'id')::bigint, (run ->> 'lease')::uuid,
    'order', '[]', 1, 'apply', '{}') from leases where label = 'third'$$,
  '22023', 'kind must be customer, subscription, grant or meter', 'an unknown list is refused');
select is(
  (select public.apply_polar_reconcile_batch((run ->> 'id')::bigint, (run ->> 'lease')::uuid, 2)
    from leases where label = 'third') - 'remaining',
  $${"customers": 2, "checked": 2, "changed": 1, "unchanged": 1, "orphaned": 0,
    "no_external_id": 0, "failures": 0, "stale": 0}$$::jsonb,
  'a batch applies two customers'' snapshots in one call');
select results_eq(
  $$select s.id, s.status, s.in_latest_state from public.polar_subscriptions as s
    where s.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'$$,
  $$values ('sub_ada'::text, 'active'::text, true)$$,
  'Ada''s listed subscription is stored and counts as live');
select results_eq(
  $$select g.grant_id from public.polar_benefit_grants as g
    where g.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'$$,
  $$values ('g_ada'::text)$$,
  'with her grant');
select results_eq(
  $$select m.meter_id, m.balance from public.polar_meters as m
    where m.user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'$$,
  $$values ('m_api'::text, 75::numeric)$$,
  'and her meter');
select results_eq(
  $$select g.grant_id from public.polar_benefit_grants as g
    where g.user_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb'$$,
  $$values ('g_bob_new'::text)$$,
  'Bob''s webhook snapshot, newer than the run''s start, is not overwritten');
select is(
  (select public.apply_polar_reconcile_batch((run ->> 'id')::bigint, (run ->> 'lease')::uuid)
    from leases where label = 'third') - 'remaining',
  $${"customers": 2, "checked": 0, "changed": 0, "unchanged": 0, "orphaned": 1,
    "no_external_id": 1, "failures": 0, "stale": 0}$$::jsonb,
  'the next batch counts a customer whose user is gone and one without external_id');
select is(
  (select public.apply_polar_reconcile_batch((run ->> 'id')::bigint, (run ->> 'lease')::uuid)
    from leases where label = 'third') ->> 'remaining',
  'false', 'then nothing remains');
select is(
  public.apply_polar_states(jsonb_build_array(jsonb_build_object('change', jsonb_build_object(
    'customer_id', 'cus_ada', 'external_id', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
    'metadata_user_id', null, 'customer_version', '2026-11-30T08:00:00Z',
    'customer_deleted', false, 'subscription', jsonb_build_object('id', 'sub_ada',
      'status', 'canceled', 'version', '2026-11-30T09:00:00Z', 'ended_at', '2026-11-30T09:00:00Z'))),
    jsonb_build_object('change', jsonb_build_object('customer_id', 'cus_nobody',
      'external_id', null, 'metadata_user_id', null, 'customer_version', '2026-11-30T08:00:00Z',
      'customer_deleted', false, 'subscription', jsonb_build_object('id', 'sub_x',
        'status', 'canceled', 'version', '2026-11-30T09:00:00Z'))))),
  $$[{"outcome": "applied", "changed": true, "stale_subscriptions": []},
    {"outcome": "skipped", "reason": "no user here"}]$$::jsonb,
  'a batch of ended subscriptions applies each to the user its external_id names');
select is_empty(
  $$select * from public.polar_reconcile_stale((select (run ->> 'id')::bigint from leases
    where label = 'third'))$$,
  'no subscription is left stale');
select lives_ok(
  $$select public.save_polar_reconcile((run ->> 'id')::bigint, (run ->> 'lease')::uuid, 1,
    'done', '{}') from leases where label = 'third'$$,
  'the run finishes');
reset role;
select is_empty('select 1 from polar.reconcile_staged',
  'and its staged pages are dropped');
select is((select count(*)::int from polar.reconcile_runs where lease_token is not null), 0,
  'with its lease');

select * from finish();
rollback;
