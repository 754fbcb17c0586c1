-- =====================================================================================
-- team_reconcile (issue 21, point 4): a reconcile run's team phases in SQL. Team A
-- (cus_team_a) is listed by Polar with one member fewer, one seat fewer and one grant fewer
-- than stored; a newer webhook is not undone; team B (cus_team_b) is not listed and gone;
-- team C (cus_team_c), stored by a webhook after the run began, is left alone. Per role.
-- =====================================================================================
begin;
select plan(35);

insert into auth.users (id, email) values
  ('01000000-0000-4000-8000-000000000001', 'olive@example.com'),
  ('02000000-0000-4000-8000-000000000002', 'max@example.com'),
  ('03000000-0000-4000-8000-000000000003', 'pia@example.com'),
  ('04000000-0000-4000-8000-000000000004', 'quinn@example.com');

create function pg_temp.as_user(id uuid) returns void language sql as $$
  select set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', jsonb_build_object('sub', id, 'role', 'authenticated')::text,
      true);
$$;
create function pg_temp.as_role(name text) returns void language sql as $$
  select set_config('role', name, true),
    set_config('request.jwt.claims', jsonb_build_object('role', name)::text, true);
$$;
create function pg_temp.as_owner() returns void language sql as $$
  select set_config('role', 'postgres', true), set_config('request.jwt.claims', '', true);
$$;

-- One change as the service role; answers the outcome.
create function pg_temp.apply(kind text, object jsonb) returns text language plpgsql as $$
declare
  outcome text;
begin
  perform pg_temp.as_role('service_role');
  outcome := public.apply_polar_team_change(jsonb_build_object('kind', kind, 'object', object))
    ->> 'outcome';
  perform pg_temp.as_owner();
  return outcome;
end;
$$;

-- Polar objects as the webhooks carry them.
create function pg_temp.team(id text, team uuid, at text, deleted text default null)
returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'type', 'team', 'external_id', team, 'created_at', at,
    'modified_at', at, 'deleted_at', deleted, 'email', 'billing@example.com');
$$;
create function pg_temp.member(id text, customer text, external text, role text, at text)
returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'customer_id', customer, 'external_id', external,
    'role', role, 'email', id || '@example.com', 'name', null, 'created_at', '2026-11-01T00:00:00Z',
    'modified_at', at);
$$;
create function pg_temp.seat(id text, customer text, member text, status text, at text,
  subscription text default 'sub_a') returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'customer_id', customer, 'member_id', member,
    'subscription_id', subscription, 'order_id', null, 'status', status, 'email', null,
    'created_at', '2026-11-01T00:00:00Z', 'modified_at', at, 'claimed_at', null,
    'revoked_at', null, 'seat_metadata', null);
$$;
create function pg_temp.subscription(id text, customer text, status text, at text)
returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'customer_id', customer, 'product_id', 'prod_team',
    'status', status, 'seats', 3, 'current_period_end', '2026-12-31T00:00:00Z',
    'cancel_at_period_end', false, 'ended_at', null, 'created_at', '2026-11-01T00:00:00Z',
    'modified_at', at);
$$;
create function pg_temp.grant_of(id text, customer text, member text, granted boolean, at text)
returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'customer_id', customer, 'member_id', member,
    'benefit_id', 'ben_pro', 'subscription_id', 'sub_a', 'is_granted', granted,
    'is_revoked', not granted, 'benefit', jsonb_build_object('id', 'ben_pro',
      'metadata', jsonb_build_object('key', 'pro')),
    'created_at', '2026-11-01T00:00:00Z', 'modified_at', at);
$$;

-- Gates as a user.
create function pg_temp.has(id uuid, key text) returns boolean language plpgsql as $$
declare
  answer boolean;
begin
  perform pg_temp.as_user(id);
  answer := public.has_entitlement(key);
  perform pg_temp.as_owner();
  return answer;
end;
$$;
create function pg_temp.has_team(id uuid, team uuid, key text) returns boolean
language plpgsql as $$
declare
  answer boolean;
begin
  perform pg_temp.as_user(id);
  answer := public.has_team_entitlement(team, key);
  perform pg_temp.as_owner();
  return answer;
end;
$$;

select pg_temp.apply('team_customer',
  pg_temp.team('cus_team_a', 'aaaaaaaa-0000-4000-8000-00000000000a', '2026-11-01T00:00:00Z'));
select pg_temp.apply('team_customer',
  pg_temp.team('cus_team_b', 'bbbbbbbb-0000-4000-8000-00000000000b', '2026-11-01T00:00:00Z'));
select pg_temp.apply('member', pg_temp.member('mem_olive', 'cus_team_a',
  '01000000-0000-4000-8000-000000000001', 'owner', '2026-11-01T00:00:00Z'));
select pg_temp.apply('member', pg_temp.member('mem_max', 'cus_team_a',
  '02000000-0000-4000-8000-000000000002', 'member', '2026-11-01T00:00:00Z'));
select pg_temp.apply('member', pg_temp.member('mem_pia', 'cus_team_a',
  '03000000-0000-4000-8000-000000000003', 'member', '2026-11-01T00:00:00Z'));
select pg_temp.apply('member', pg_temp.member('mem_quinn', 'cus_team_b',
  '04000000-0000-4000-8000-000000000004', 'member', '2026-11-01T00:00:00Z'));
select pg_temp.apply('subscription', pg_temp.subscription('sub_a', 'cus_team_a', 'active',
  '2026-11-01T00:00:00Z'));
select pg_temp.apply('subscription', pg_temp.subscription('sub_b', 'cus_team_b', 'active',
  '2026-11-01T00:00:00Z'));
select pg_temp.apply('seat', pg_temp.seat('seat_max', 'cus_team_a', 'mem_max', 'claimed',
  '2026-11-02T00:00:00Z'));
select pg_temp.apply('seat', pg_temp.seat('seat_pia', 'cus_team_a', 'mem_pia', 'claimed',
  '2026-11-02T00:00:00Z'));
select pg_temp.apply('seat', pg_temp.seat('seat_quinn', 'cus_team_b', 'mem_quinn', 'claimed',
  '2026-11-02T00:00:00Z', 'sub_b'));
select pg_temp.apply('grant', pg_temp.grant_of('grant_max', 'cus_team_a', 'mem_max', true,
  '2026-11-02T00:00:00Z'));
select pg_temp.apply('grant', pg_temp.grant_of('grant_pia', 'cus_team_a', 'mem_pia', true,
  '2026-11-02T00:00:00Z'));
select pg_temp.apply('grant', pg_temp.grant_of('grant_quinn', 'cus_team_b', 'mem_quinn', true,
  '2026-11-02T00:00:00Z') || '{"subscription_id": "sub_b"}');

-- ----- Privileges ---------------------------------------------------------------------------
select ok(not has_table_privilege('service_role', 'polar.reconcile_teams', 'select'),
  'the run''s team queue is read only through its functions');
select ok(not has_function_privilege('authenticated',
  'public.reconcile_polar_team(bigint, uuid, text, jsonb, jsonb)', 'execute'),
  'authenticated cannot reconcile a team');
select ok(not has_function_privilege('anon',
  'public.stage_polar_reconcile_teams(bigint, uuid, jsonb)', 'execute'),
  'anon cannot stage teams');
select ok(not has_function_privilege('authenticated',
  'public.finish_polar_reconcile_gone_team(bigint, uuid, text, boolean)', 'execute'),
  'authenticated cannot delete a team through the reconcile');
select ok(not has_function_privilege('authenticated', 'public.polar_reconcile_teams(bigint, integer)',
  'execute'), 'authenticated cannot list the queued teams');
select ok(not has_function_privilege('anon', 'public.polar_reconcile_gone_teams(bigint, integer)',
  'execute'), 'anon cannot list unlisted teams');
select ok(has_function_privilege('service_role',
  'public.reconcile_polar_team(bigint, uuid, text, jsonb, jsonb)', 'execute'),
  'service_role reconciles teams');

select pg_temp.as_role('authenticated');
select throws_ok($$select public.reconcile_polar_team(1, gen_random_uuid(), 'cus_team_a', '[]',
  '{"at": "2026-12-01T00:00:00Z"}')$$, '42501', null, 'authenticated is refused');
select pg_temp.as_owner();

-- ----- A run, and the lease --------------------------------------------------------------------
select pg_temp.as_role('service_role');
-- The run's id and lease in settings, not psql variables: PGlite runs these files too.
select set_config('test.run', r ->> 'id', false), set_config('test.lease', r ->> 'lease', false)
  from public.begin_polar_reconcile(false) as r;
select throws_ok(format($$select public.stage_polar_reconcile_teams(%s, gen_random_uuid(),
  '[]')$$, current_setting('test.run')::bigint), '55P03', null, 'staging without the lease is refused');
select is(public.stage_polar_reconcile_teams(current_setting('test.run')::bigint, current_setting('test.lease')::uuid, jsonb_build_array(
  pg_temp.team('cus_team_a', 'aaaaaaaa-0000-4000-8000-00000000000a', '2026-11-01T00:00:00Z'),
  pg_temp.team('cus_team_x', null, '2026-11-01T00:00:00Z'),
  jsonb_build_object('id', 'cus_person', 'type', 'individual',
    'external_id', '01000000-0000-4000-8000-000000000001', 'created_at', '2026-11-01T00:00:00Z'))),
  1, 'only a team customer with a uuid external_id is queued');
select is((select count(*)::int from public.polar_reconcile_teams(current_setting('test.run')::bigint, 10)), 1,
  'one queued team');
select pg_temp.as_owner();

-- A webhook after the run began: Pia's seat is revoked, newer than the listing will be.
select pg_temp.apply('seat', pg_temp.seat('seat_pia', 'cus_team_a', null, 'revoked',
  '2030-01-01T00:00:00Z'));
-- Sam joins team A by webhook after the listing began: the listing does not name him.
select pg_temp.apply('member', pg_temp.member('mem_sam', 'cus_team_a',
  '04000000-0000-4000-8000-000000000004', 'member', '2030-01-01T00:00:00Z'));
-- Team C appears by webhook after the run began: the listing never saw it.
select pg_temp.apply('team_customer',
  pg_temp.team('cus_team_c', 'cccccccc-0000-4000-8000-00000000000c', '2030-01-01T00:00:00Z'));

-- ----- Team A as Polar lists it: Olive, Max (Pia gone), seat_max only, grant_max only -----------
select pg_temp.as_role('service_role');
select is(public.reconcile_polar_team(current_setting('test.run')::bigint, current_setting('test.lease')::uuid, 'cus_team_a', jsonb_build_array(
    jsonb_build_object('kind', 'member', 'object', pg_temp.member('mem_olive', 'cus_team_a',
      '01000000-0000-4000-8000-000000000001', 'owner', '2026-11-01T00:00:00Z')),
    jsonb_build_object('kind', 'member', 'object', pg_temp.member('mem_max', 'cus_team_a',
      '02000000-0000-4000-8000-000000000002', 'billing_manager', '2026-11-20T00:00:00Z')),
    jsonb_build_object('kind', 'seat', 'object', pg_temp.seat('seat_max', 'cus_team_a',
      'mem_max', 'claimed', '2026-11-02T00:00:00Z')),
    jsonb_build_object('kind', 'seat', 'object', pg_temp.seat('seat_pia', 'cus_team_a',
      'mem_pia', 'claimed', '2026-11-02T00:00:00Z')),
    jsonb_build_object('kind', 'grant', 'object', pg_temp.grant_of('grant_max', 'cus_team_a',
      'mem_max', true, '2026-11-02T00:00:00Z')),
    jsonb_build_object('kind', 'seat', 'object', '{"id": "bad"}'::jsonb)),
  jsonb_build_object('at', '2026-12-01T00:00:00Z', 'members', jsonb_build_array('mem_olive',
    'mem_max'), 'seats', jsonb_build_object('sub_a', jsonb_build_array('seat_max', 'seat_pia')),
    'grants', jsonb_build_array('grant_max'))),
  '{"applied": 1, "stale": 4, "ignored": 0, "failed": 1, "members_removed": 1, "seats_revoked": 0, "grants_revoked": 1, "deletions_queued": 0}'::jsonb,
  'team A: Max''s newer role stored, the rest current, a bad change counted, Pia removed, her grant ended');
select pg_temp.as_owner();
select is((select role from public.polar_team_members where polar_member_id = 'mem_max'),
  'billing_manager', 'the listed member''s newer version is stored');
select ok((select removed from public.polar_team_members where polar_member_id = 'mem_pia'),
  'a member Polar no longer lists is removed');
select ok(not (select removed from public.polar_team_members where polar_member_id = 'mem_sam'),
  'a member a webhook stored after the listing began is not removed');
select is((select status from public.polar_team_seats where polar_seat_id = 'seat_pia'),
  'revoked', 'an older listing does not undo the newer webhook that revoked Pia''s seat');
select ok(not (select is_granted from public.polar_team_member_grants
  where polar_grant_id = 'grant_pia'), 'a grant Polar no longer lists is no longer granted');
select ok(pg_temp.has_team('02000000-0000-4000-8000-000000000002',
  'aaaaaaaa-0000-4000-8000-00000000000a', 'pro'), 'Max keeps pro');
select ok(not pg_temp.has_team('03000000-0000-4000-8000-000000000003',
  'aaaaaaaa-0000-4000-8000-00000000000a', 'pro'), 'Pia holds nothing');
select is((select count(*)::int from public.polar_reconcile_teams(current_setting('test.run')::bigint, 10)), 0,
  'team A is done for the run');

-- A seat gone from the subscription's listing is revoked; a list not read removes nothing.
select pg_temp.as_role('service_role');
select is(public.reconcile_polar_team(current_setting('test.run')::bigint, current_setting('test.lease')::uuid, 'cus_team_a', '[]',
  jsonb_build_object('at', '2026-12-01T00:00:00Z', 'members', null,
    'seats', jsonb_build_object('sub_a', '[]'::jsonb), 'grants', null)) ->> 'seats_revoked',
  '1', 'a seat Polar no longer lists is revoked');
select pg_temp.as_owner();
select is((select status || ':' || coalesce(polar_member_id, 'none') from public.polar_team_seats
  where polar_seat_id = 'seat_max'), 'revoked:none', 'the seat is revoked and has no holder');
select ok(not pg_temp.has_team('02000000-0000-4000-8000-000000000002',
  'aaaaaaaa-0000-4000-8000-00000000000a', 'pro'), 'so Max loses pro in that transaction');
select ok(not (select removed from public.polar_team_members where polar_member_id = 'mem_olive'),
  'members: null removed nobody');

-- ----- A listed member of a user deleted while its webhooks were lost ---------------------------
-- Ted was deleted before any event of his member reached the database: nothing was queued then.
insert into auth.users (id, email) values ('06000000-0000-4000-8000-000000000006', 'ted@example.com');
delete from auth.users where id = '06000000-0000-4000-8000-000000000006';
select pg_temp.as_role('service_role');
select is(public.reconcile_polar_team(current_setting('test.run')::bigint, current_setting('test.lease')::uuid, 'cus_team_a', jsonb_build_array(
    jsonb_build_object('kind', 'member', 'object', pg_temp.member('mem_ted', 'cus_team_a',
      '06000000-0000-4000-8000-000000000006', 'member', '2026-11-01T00:00:00Z')),
    jsonb_build_object('kind', 'seat', 'object', pg_temp.seat('seat_ted', 'cus_team_a',
      'mem_ted', 'claimed', '2026-11-02T00:00:00Z'))),
  jsonb_build_object('at', '2026-12-01T00:00:00Z', 'members', null, 'seats', '{}'::jsonb,
    'grants', null)) ->> 'deletions_queued', '1',
  'a listed member of a deleted user is queued for deletion');
select pg_temp.as_owner();
select results_eq($$select kind, polar_id from polar.team_deletions
    where user_id = '06000000-0000-4000-8000-000000000006' order by kind$$,
  $$values ('member', 'mem_ted'), ('seat', 'seat_ted')$$,
  'with its seat, as the delete would have queued them');
select pg_temp.as_role('service_role');
select is(public.reconcile_polar_team(current_setting('test.run')::bigint, current_setting('test.lease')::uuid, 'cus_team_a', jsonb_build_array(
    jsonb_build_object('kind', 'member', 'object', pg_temp.member('mem_ted', 'cus_team_a',
      '06000000-0000-4000-8000-000000000006', 'member', '2026-11-01T00:00:00Z')),
    jsonb_build_object('kind', 'member', 'object', pg_temp.member('mem_olive', 'cus_team_a',
      '01000000-0000-4000-8000-000000000001', 'owner', '2026-11-01T00:00:00Z'))),
  jsonb_build_object('at', '2026-12-01T00:00:00Z', 'members', null, 'seats', '{}'::jsonb,
    'grants', null)) ->> 'deletions_queued', '0',
  'once only, and never for a member of a user who exists');
select pg_temp.as_owner();

-- ----- Teams the listing did not name ---------------------------------------------------------
select pg_temp.as_role('service_role');
select results_eq(format('select polar_customer_id from public.polar_reconcile_gone_teams(%s, 25)',
  current_setting('test.run')::bigint), $$values ('cus_team_b')$$,
  'team B is unlisted; team C, stored after the run began, is not a candidate');
select is(public.finish_polar_reconcile_gone_team(current_setting('test.run')::bigint, current_setting('test.lease')::uuid, 'cus_team_b', false), false,
  'a team Polar still has is kept');
select is((select count(*)::int from public.polar_reconcile_gone_teams(current_setting('test.run')::bigint, 25)), 0,
  'a checked team is not checked again in the run');
select pg_temp.as_owner();
select is((select count(*)::int from public.polar_teams where polar_customer_id = 'cus_team_b'), 1,
  'team B is still stored');
delete from polar.reconcile_teams where polar_customer_id = 'cus_team_b';
select pg_temp.as_role('service_role');
select is(public.finish_polar_reconcile_gone_team(current_setting('test.run')::bigint, current_setting('test.lease')::uuid, 'cus_team_b', true), true,
  'a team Polar no longer has is deleted');
select pg_temp.as_owner();
select is((select count(*)::int from public.polar_team_seats where team_id =
  'bbbbbbbb-0000-4000-8000-00000000000b'), 0, 'every row of team B goes, as customer.deleted does');
select ok(not pg_temp.has_team('04000000-0000-4000-8000-000000000004',
  'bbbbbbbb-0000-4000-8000-00000000000b', 'pro'), 'Quinn loses team B''s pro');
select is((select count(*)::int from public.polar_teams where polar_customer_id = 'cus_team_c'), 1,
  'team C is untouched');

select * from finish();
rollback;
