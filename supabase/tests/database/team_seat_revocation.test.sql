-- =====================================================================================
-- A revoked seat as Polar sends it (issue 21, 20261201001000_team_seat_revocation.sql):
-- customer_id, member_id and email null. It reaches its team through the stored seat, else
-- through its subscription, and takes the access away; a revocation of no known seat or
-- subscription changes nothing. Team A: Max holds seat_max (claimed, pro). Team B: Quinn holds
-- seat_quinn. Both teams' revocations are told apart by the seat id alone.
-- =====================================================================================
begin;
select plan(12);

insert into auth.users (id, email) values
  ('02000000-0000-4000-8000-000000000002', 'max@example.com'),
  ('04000000-0000-4000-8000-000000000004', 'quinn@example.com');

create function pg_temp.as_user(id uuid) returns void language sql as $$
  select set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', jsonb_build_object('sub', id, 'role', 'authenticated')::text,
      true);
$$;
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
  perform pg_temp.as_user(id);
  answer := public.has_team_entitlement(team, 'pro');
  perform pg_temp.as_owner();
  return answer;
end;
$$;
-- A seat as Polar's CustomerSeat schema gives it; revoked ones carry no customer or member.
create function pg_temp.seat(id text, customer text, member text, status text, at text,
  subscription text) returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'customer_id', customer, 'member_id', member,
    'subscription_id', subscription, 'order_id', null, 'status', status,
    'email', case when member is null then null else member || '@example.com' end,
    'created_at', '2026-11-01T00:00:00Z', 'modified_at', at,
    'claimed_at', case when status = 'claimed' then at end,
    'revoked_at', case when status = 'revoked' then at end, 'seat_metadata', null);
$$;

-- Two teams, each with a member holding a claimed seat granted pro.
select pg_temp.apply('team_customer', jsonb_build_object('id', 'cus_a', 'type', 'team',
  'external_id', 'aaaaaaaa-0000-4000-8000-00000000000a', 'created_at', '2026-11-01T00:00:00Z'));
select pg_temp.apply('team_customer', jsonb_build_object('id', 'cus_b', 'type', 'team',
  'external_id', 'bbbbbbbb-0000-4000-8000-00000000000b', 'created_at', '2026-11-01T00:00:00Z'));
select pg_temp.apply('member', jsonb_build_object('id', 'mem_max', 'customer_id', 'cus_a',
  'external_id', '02000000-0000-4000-8000-000000000002', 'role', 'member',
  'created_at', '2026-11-01T00:00:00Z'));
select pg_temp.apply('member', jsonb_build_object('id', 'mem_quinn', 'customer_id', 'cus_b',
  'external_id', '04000000-0000-4000-8000-000000000004', 'role', 'member',
  'created_at', '2026-11-01T00:00:00Z'));
select pg_temp.apply('subscription', jsonb_build_object('id', sub, 'customer_id', customer,
  'product_id', 'prod_team', 'status', 'active', 'seats', 3, 'created_at', '2026-11-01T00:00:00Z'))
from (values ('sub_a', 'cus_a'), ('sub_b', 'cus_b')) as v (sub, customer);
select pg_temp.apply('seat', pg_temp.seat('seat_max', 'cus_a', 'mem_max', 'claimed',
  '2026-11-02T00:00:00Z', 'sub_a'));
select pg_temp.apply('seat', pg_temp.seat('seat_quinn', 'cus_b', 'mem_quinn', 'claimed',
  '2026-11-02T00:00:00Z', 'sub_b'));
select pg_temp.apply('grant', jsonb_build_object('id', g, 'customer_id', customer,
  'member_id', member, 'benefit_id', 'ben_pro', 'subscription_id', sub, 'is_granted', true,
  'benefit', jsonb_build_object('metadata', jsonb_build_object('key', 'pro')),
  'created_at', '2026-11-02T00:00:00Z'))
from (values ('g_max', 'cus_a', 'mem_max', 'sub_a'), ('g_quinn', 'cus_b', 'mem_quinn', 'sub_b'))
  as v (g, customer, member, sub);

select ok(pg_temp.has_team('02000000-0000-4000-8000-000000000002',
  'aaaaaaaa-0000-4000-8000-00000000000a'), 'Max holds pro through his seat');
select ok(pg_temp.has_team('04000000-0000-4000-8000-000000000004',
  'bbbbbbbb-0000-4000-8000-00000000000b'), 'Quinn holds pro through hers');

-- customer_seat.revoked as Polar sends it: no customer, no member, no email.
select is(pg_temp.apply('seat', pg_temp.seat('seat_max', null, null, 'revoked',
  '2026-11-03T00:00:00Z', 'sub_a')), 'applied', 'a revocation without a customer is applied');
select is((select status from public.polar_team_seats where polar_seat_id = 'seat_max'),
  'revoked', 'the stored seat is revoked');
select is((select team_id from public.polar_team_seats where polar_seat_id = 'seat_max'),
  'aaaaaaaa-0000-4000-8000-00000000000a'::uuid, 'and stays its team''s');
select ok(not pg_temp.has_team('02000000-0000-4000-8000-000000000002',
  'aaaaaaaa-0000-4000-8000-00000000000a'),
  'Max loses pro with the revocation, before the grant''s revocation arrives');
select ok(pg_temp.has_team('04000000-0000-4000-8000-000000000004',
  'bbbbbbbb-0000-4000-8000-00000000000b'), 'Quinn, of the other team, keeps hers');

-- An older delivery of the claim does not bring the seat back.
select is(pg_temp.apply('seat', pg_temp.seat('seat_max', 'cus_a', 'mem_max', 'claimed',
  '2026-11-02T00:00:00Z', 'sub_a')), 'stale', 'the older claim is stale');

-- A seat never seen before, revoked: stored through its subscription's team.
select is(pg_temp.apply('seat', pg_temp.seat('seat_new', null, null, 'revoked',
  '2026-11-03T00:00:00Z', 'sub_b')), 'applied', 'an unknown seat reaches its subscription''s team');
select is((select team_id from public.polar_team_seats where polar_seat_id = 'seat_new'),
  'bbbbbbbb-0000-4000-8000-00000000000b'::uuid, 'team B''s, by its subscription');

-- Neither the seat nor its subscription known: nothing changes.
select is(pg_temp.apply('seat', pg_temp.seat('seat_stray', null, null, 'revoked',
  '2026-11-03T00:00:00Z', 'sub_unknown')), 'ignored', 'a revocation of no known team is ignored');
select is((select count(*)::integer from public.polar_team_seats), 3,
  'and stores nothing');

select * from finish();
rollback;
