-- =====================================================================================
-- The example app's teams (examples/web/supabase/migrations/20261201100000_teams.sql), per
-- role: schema and privileges; anon; Ada, owner of team A, with Bob its member; Cy, owner of
-- team B; Dee in no team; the service role. Who may bill a team (the app's
-- polar_may_bill_team), who may add members, who reads what, and the team notes that follow a
-- claimed seat with "pro", on both sides of a revocation. Runs after this project's migrations
-- and the example's (examples/web/supabase/tests/pgtap_test.ts).
-- =====================================================================================
begin;
select plan(36);

insert into auth.users (id, email) values
  ('0a000000-0000-4000-8000-00000000000a', 'ada@example.com'),
  ('0b000000-0000-4000-8000-00000000000b', 'bob@example.com'),
  ('0c000000-0000-4000-8000-00000000000c', 'cy@example.com'),
  ('0d000000-0000-4000-8000-00000000000d', 'dee@example.com');

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

-- A statement run as a user (null: anon; the nil uuid: the service role): its one value as
-- text, or its error as "<sqlstate>: <message>".
create function pg_temp.run_as(id uuid, statement text) returns text language plpgsql as $$
declare
  answer text;
begin
  if id is null then
    perform pg_temp.as_role('anon');
  elsif id = '00000000-0000-0000-0000-000000000000' then
    perform pg_temp.as_role('service_role');
  else
    perform pg_temp.as_user(id);
  end if;
  begin
    execute statement into answer;
  exception when others then
    answer := sqlstate || ': ' || sqlerrm;
  end;
  perform pg_temp.as_owner();
  return answer;
end;
$$;

create function pg_temp.team(name text) returns uuid language sql as $$
  select id from public.teams where teams.name = team.name;
$$;

-- ----- Schema and privileges ----------------------------------------------------------------
select ok((select bool_and(relrowsecurity) from pg_class
  where oid in ('public.teams'::regclass, 'public.team_members'::regclass,
    'public.team_notes'::regclass)), 'RLS is on for teams, team_members and team_notes');
select ok(not (select bool_or(has_table_privilege('anon', t, p))
  from unnest(array['public.teams', 'public.team_members', 'public.team_notes']) as t,
    unnest(array['select', 'insert', 'update', 'delete']) as p),
  'anon has no privilege on the three tables');
select ok(not (select bool_or(has_table_privilege('authenticated', t, p))
  from unnest(array['public.teams', 'public.team_members', 'public.team_notes']) as t,
    unnest(array['insert', 'update', 'delete', 'truncate']) as p),
  'signed-in users write none of the three tables directly');
select ok((select bool_and(has_table_privilege('authenticated', t, 'select'))
  from unnest(array['public.teams', 'public.team_members', 'public.team_notes']) as t),
  'signed-in users may select, under RLS');
select ok(not (select bool_or(has_function_privilege('anon', f, 'execute'))
  from unnest(array['public.create_team(text)', 'public.add_team_member(uuid, text)',
    'public.team_roster(uuid)', 'public.team_role(uuid)',
    'public.polar_may_bill_team(uuid)']) as f),
  'anon executes none of the functions');
select ok((select prosecdef and proconfig = array['search_path=""'] from pg_proc
  where oid = 'public.polar_may_bill_team(uuid)'::regprocedure),
  'polar_may_bill_team keeps its signature, is security definer with an empty search_path');

-- ----- Fixtures, through the functions ------------------------------------------------------
select isnt(pg_temp.run_as('0a000000-0000-4000-8000-00000000000a',
  $$select public.create_team('Team A')$$), null, 'Ada creates team A');
select isnt(pg_temp.run_as('0c000000-0000-4000-8000-00000000000c',
  $$select public.create_team('Team B')$$), null, 'Cy creates team B');
select is(pg_temp.run_as('0a000000-0000-4000-8000-00000000000a',
  format('select public.add_team_member(%L, %L)', pg_temp.team('Team A'), 'BOB@example.com')),
  '0b000000-0000-4000-8000-00000000000b', 'Ada adds Bob to A by his email, in any case');
select results_eq(
  format('select user_id::text, role from public.team_members where team_id = %L order by role desc',
    pg_temp.team('Team A')),
  $$values ('0a000000-0000-4000-8000-00000000000a', 'owner'),
    ('0b000000-0000-4000-8000-00000000000b', 'member')$$,
  'the creator is the owner, the added user a member');

-- ----- polar_may_bill_team: owners of the team, and nobody else -----------------------------
select is(pg_temp.run_as('0a000000-0000-4000-8000-00000000000a',
  format('select public.polar_may_bill_team(%L)', pg_temp.team('Team A'))), 'true',
  'Ada, owner of A, may bill A');
select is(pg_temp.run_as('0b000000-0000-4000-8000-00000000000b',
  format('select public.polar_may_bill_team(%L)', pg_temp.team('Team A'))), 'false',
  'Bob, a member of A, may not');
select is(pg_temp.run_as('0a000000-0000-4000-8000-00000000000a',
  format('select public.polar_may_bill_team(%L)', pg_temp.team('Team B'))), 'false',
  'the owner of A asking about B may not');
select is(pg_temp.run_as('0c000000-0000-4000-8000-00000000000c',
  format('select public.polar_may_bill_team(%L)', pg_temp.team('Team B'))), 'true',
  'Cy, owner of B, may bill B');
select is(pg_temp.run_as('0d000000-0000-4000-8000-00000000000d',
  format('select public.polar_may_bill_team(%L)', pg_temp.team('Team A'))), 'false',
  'Dee, in no team, may not');
select is(pg_temp.run_as('00000000-0000-0000-0000-000000000000',
  format('select public.polar_may_bill_team(%L)', pg_temp.team('Team A'))), 'false',
  'the service role is nobody');
select is(pg_temp.run_as(null,
  format('select public.polar_may_bill_team(%L)', pg_temp.team('Team A'))),
  '42501: permission denied for function polar_may_bill_team', 'anon may not ask');

-- ----- add_team_member and create_team: refusals, nothing changed ---------------------------
select is(pg_temp.run_as('0b000000-0000-4000-8000-00000000000b',
  format('select public.add_team_member(%L, %L)', pg_temp.team('Team A'), 'dee@example.com')),
  '42501: Only the team''s owners may add members', 'a member may not add members');
select is(pg_temp.run_as('0c000000-0000-4000-8000-00000000000c',
  format('select public.add_team_member(%L, %L)', pg_temp.team('Team A'), 'cy@example.com')),
  '42501: Only the team''s owners may add members', 'the owner of B may not add to A');
select is(pg_temp.run_as('0a000000-0000-4000-8000-00000000000a',
  format('select public.add_team_member(%L, %L)', pg_temp.team('Team A'), 'nobody@example.com')),
  'P0001: No account with the email nobody@example.com yet: ask them to sign up first',
  'an email with no account is refused in words');
select is(pg_temp.run_as('0a000000-0000-4000-8000-00000000000a',
  format('select public.add_team_member(%L, %L)', pg_temp.team('Team A'), 'bob@example.com')),
  'P0001: bob@example.com is already a member of this team', 'a member is added once');
select is(pg_temp.run_as('0a000000-0000-4000-8000-00000000000a',
  $$select public.create_team('  ')$$),
  '22023: A team name needs 1 to 80 characters', 'a blank name is refused');
select is((select count(*)::int from public.team_members), 3,
  'the refusals added nobody (Ada and Bob in A, Cy in B)');

-- ----- Who reads what -----------------------------------------------------------------------
select is(pg_temp.run_as('0b000000-0000-4000-8000-00000000000b',
  $$select string_agg(name, ',' order by name) from public.teams$$), 'Team A',
  'Bob reads his team only');
select is(pg_temp.run_as('0c000000-0000-4000-8000-00000000000c',
  $$select count(*) from public.team_members where team_id <> (select id from public.teams)$$),
  '0', 'Cy reads no member of another team');
select is(pg_temp.run_as('0d000000-0000-4000-8000-00000000000d',
  $$select count(*) from public.teams$$), '0', 'Dee reads no team');
select is(pg_temp.run_as('0b000000-0000-4000-8000-00000000000b',
  format('select string_agg(email || '':'' || role, '','') from public.team_roster(%L)',
    pg_temp.team('Team A'))), 'ada@example.com:owner,bob@example.com:member',
  'a member reads the roster of their team, owners first');
select is(pg_temp.run_as('0c000000-0000-4000-8000-00000000000c',
  format('select count(*) from public.team_roster(%L)', pg_temp.team('Team A'))), '0',
  'the roster of another team is empty: no emails');
select is(pg_temp.run_as('0b000000-0000-4000-8000-00000000000b',
  format('update public.team_members set role = %L where user_id = %L', 'owner',
    '0b000000-0000-4000-8000-00000000000b')),
  '42501: permission denied for table team_members', 'a member may not make himself owner');
select is(pg_temp.run_as(null, $$select count(*) from public.team_notes$$),
  '42501: permission denied for table team_notes', 'anon reads no note');
select is(pg_temp.run_as('00000000-0000-0000-0000-000000000000',
  $$select count(*) from public.team_notes$$), '4', 'the service role reads every note');

-- ----- Team notes follow a claimed seat with pro --------------------------------------------
select is(pg_temp.run_as('0b000000-0000-4000-8000-00000000000b',
  $$select count(*) from public.team_notes$$), '0', 'Bob without a seat reads no note');

-- Polar's side: A's team customer, Bob's member, an active subscription, his claimed seat and
-- the "pro" grant, as the webhooks store them.
select pg_temp.as_role('service_role');
select public.apply_polar_team_change(jsonb_build_object('kind', kind, 'object',
  object || jsonb_build_object('created_at', '2026-12-01T10:00:00Z',
    'modified_at', '2026-12-01T10:00:00Z')))
from (values
  (1, 'team_customer', jsonb_build_object('id', 'cus_a', 'type', 'team',
    'external_id', pg_temp.team('Team A'))),
  (2, 'member', jsonb_build_object('id', 'mem_bob', 'customer_id', 'cus_a',
    'external_id', '0b000000-0000-4000-8000-00000000000b', 'role', 'member')),
  (3, 'subscription', jsonb_build_object('id', 'sub_a', 'customer_id', 'cus_a',
    'status', 'active', 'seats', 3)),
  (4, 'seat', jsonb_build_object('id', 'seat_1', 'customer_id', 'cus_a', 'member_id', 'mem_bob',
    'subscription_id', 'sub_a', 'status', 'claimed')),
  (5, 'grant', jsonb_build_object('id', 'grant_1', 'customer_id', 'cus_a',
    'member_id', 'mem_bob', 'benefit_id', 'ben_pro', 'subscription_id', 'sub_a',
    'is_granted', true, 'benefit', jsonb_build_object('id', 'ben_pro',
      'metadata', jsonb_build_object('key', 'pro'))))
) as change (n, kind, object)
order by n;
select pg_temp.as_owner();

select is(pg_temp.run_as('0b000000-0000-4000-8000-00000000000b',
  $$select string_agg(title, ',' order by id) from public.team_notes$$),
  'Welcome to Team A,Stand-up', 'with a claimed seat, Bob reads the notes of team A');
select is(pg_temp.run_as('0b000000-0000-4000-8000-00000000000b',
  format('select count(*) from public.team_notes where team_id = %L', pg_temp.team('Team B'))),
  '0', 'and none of team B');
select is(pg_temp.run_as('0a000000-0000-4000-8000-00000000000a',
  $$select count(*) from public.team_notes$$), '0', 'the owner holds no seat: no note');

select pg_temp.as_role('service_role');
select public.apply_polar_team_change(jsonb_build_object('kind', 'seat', 'object',
  jsonb_build_object('id', 'seat_1', 'customer_id', null, 'member_id', null,
    'subscription_id', 'sub_a', 'status', 'revoked', 'created_at', '2026-12-01T10:00:00Z',
    'modified_at', '2026-12-01T11:00:00Z')));
select pg_temp.as_owner();

select is(pg_temp.run_as('0b000000-0000-4000-8000-00000000000b',
  $$select count(*) from public.team_notes$$), '0', 'the seat revoked: Bob reads no note');

select * from finish();
rollback;
