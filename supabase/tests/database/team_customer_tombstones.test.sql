-- =====================================================================================
-- A deleted team customer stays deleted (20261201001300_team_customer_tombstones.sql): after
-- customer.deleted, an older customer.created of the same Polar customer stores no team, and
-- the team's older member, seat and grant events find none, so its member's access does not
-- come back. Team B, never deleted, is untouched. polar.deleted_team_customers is read and
-- written by no API role.
-- =====================================================================================
begin;
select plan(15);

insert into auth.users (id, email) values
  ('02000000-0000-4000-8000-000000000002', 'max@example.com'),
  ('04000000-0000-4000-8000-000000000004', 'quinn@example.com');

create function pg_temp.as_owner() returns void language sql as $$
  select set_config('role', 'postgres', true), set_config('request.jwt.claims', '', true);
$$;
create function pg_temp.apply(kind text, object jsonb) returns text language plpgsql as $$
declare
  outcome text;
begin
  perform set_config('role', 'service_role', true);
  perform set_config('request.jwt.claims', '{"role":"service_role"}', true);
  outcome := public.apply_polar_team_change(jsonb_build_object('kind', kind, 'object', object))
    ->> 'outcome';
  perform pg_temp.as_owner();
  return outcome;
end;
$$;
create function pg_temp.has_team(id uuid, team uuid) returns boolean language plpgsql as $$
declare
  answer boolean;
begin
  perform set_config('role', 'authenticated', true);
  perform set_config('request.jwt.claims',
    jsonb_build_object('sub', id, 'role', 'authenticated')::text, true);
  answer := public.has_team_entitlement(team, 'pro');
  perform pg_temp.as_owner();
  return answer;
end;
$$;
-- A team's life as Polar's old events carry it: the team, a member, a subscription, a
-- claimed seat and the member's grant, all at 2026-11-01.
create function pg_temp.live(customer text, team text, member text, usr text) returns void
language plpgsql as $$
begin
  perform pg_temp.apply('team_customer', jsonb_build_object('id', customer, 'type', 'team',
    'external_id', team, 'created_at', '2026-11-01T00:00:00Z'));
  perform pg_temp.apply('member', jsonb_build_object('id', member, 'customer_id', customer,
    'external_id', usr, 'role', 'member', 'created_at', '2026-11-01T00:00:00Z'));
  perform pg_temp.apply('subscription', jsonb_build_object('id', 'sub_' || customer,
    'customer_id', customer, 'product_id', 'prod_team', 'status', 'active', 'seats', 1,
    'created_at', '2026-11-01T00:00:00Z'));
  perform pg_temp.apply('seat', jsonb_build_object('id', 'seat_' || customer,
    'customer_id', customer, 'member_id', member, 'subscription_id', 'sub_' || customer,
    'status', 'claimed', 'created_at', '2026-11-01T00:00:00Z'));
  perform pg_temp.apply('grant', jsonb_build_object('id', 'grant_' || customer,
    'customer_id', customer, 'member_id', member, 'benefit_id', 'ben_pro',
    'subscription_id', 'sub_' || customer, 'is_granted', true,
    'benefit', jsonb_build_object('metadata', jsonb_build_object('key', 'pro')),
    'created_at', '2026-11-01T00:00:00Z'));
end;
$$;

-- ----- Owner: the table and its privileges --------------------------------------------------
select has_table('polar', 'deleted_team_customers', 'polar.deleted_team_customers exists');
select table_privs_are('polar', 'deleted_team_customers', 'anon', array[]::text[],
  'anon has no privilege on deleted_team_customers');
select table_privs_are('polar', 'deleted_team_customers', 'authenticated', array[]::text[],
  'authenticated has no privilege on deleted_team_customers');
select table_privs_are('polar', 'deleted_team_customers', 'service_role', array[]::text[],
  'service_role has no privilege on deleted_team_customers: only the triggers write it');

-- ----- Service role: a team deleted, then its old events again -----------------------------
select pg_temp.live('cus_a', 'aaaaaaaa-0000-4000-8000-00000000000a', 'mem_max',
  '02000000-0000-4000-8000-000000000002');
select pg_temp.live('cus_b', 'bbbbbbbb-0000-4000-8000-00000000000b', 'mem_quinn',
  '04000000-0000-4000-8000-000000000004');
select ok(pg_temp.has_team('02000000-0000-4000-8000-000000000002',
  'aaaaaaaa-0000-4000-8000-00000000000a'), 'Max holds pro through team A');

select is(pg_temp.apply('team_customer', jsonb_build_object('id', 'cus_a', 'type', 'team',
  'external_id', null, 'deleted_at', '2026-11-05T00:00:00Z',
  'created_at', '2026-11-01T00:00:00Z', 'modified_at', '2026-11-05T00:00:00Z')), 'applied',
  'customer.deleted removes team A');
select is((select count(*)::integer from polar.deleted_team_customers
  where polar_customer_id = 'cus_a'), 1, 'and remembers its Polar customer');

-- Polar resends team A's old events, in their first order.
select pg_temp.live('cus_a', 'aaaaaaaa-0000-4000-8000-00000000000a', 'mem_max',
  '02000000-0000-4000-8000-000000000002');
select is((select count(*)::integer from public.polar_teams where polar_customer_id = 'cus_a'),
  0, 'the old customer.created stores no team');
select is(pg_temp.apply('team_customer', jsonb_build_object('id', 'cus_a', 'type', 'team',
  'external_id', 'aaaaaaaa-0000-4000-8000-00000000000a', 'created_at', '2026-11-01T00:00:00Z',
  'modified_at', '2026-11-06T00:00:00Z')), 'stale', 'nor does a newer-looking customer.updated');
select is((select count(*)::integer from public.polar_team_members where polar_member_id = 'mem_max'),
  0, 'the old member.created finds no team');
select is((select count(*)::integer from public.polar_team_seats where polar_seat_id = 'seat_cus_a'),
  0, 'nor the old seat');
select ok(not pg_temp.has_team('02000000-0000-4000-8000-000000000002',
  'aaaaaaaa-0000-4000-8000-00000000000a'), 'Max''s access does not come back');

-- ----- Authenticated: the other team is untouched; nobody reads the table -------------------
select ok(pg_temp.has_team('04000000-0000-4000-8000-000000000004',
  'bbbbbbbb-0000-4000-8000-00000000000b'), 'Quinn keeps pro through team B');
select ok(not pg_temp.has_team('04000000-0000-4000-8000-000000000004',
  'aaaaaaaa-0000-4000-8000-00000000000a'), 'and holds nothing through team A');
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"04000000-0000-4000-8000-000000000004","role":"authenticated"}', true);
select throws_ok('select * from polar.deleted_team_customers', '42501',
  'permission denied for schema polar', 'authenticated cannot read deleted_team_customers');
reset role;

select * from finish();
rollback;
