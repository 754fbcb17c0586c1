-- =====================================================================================
-- team seat functions (issue 21): polar_team_billing_state, polar_seat_user_by_id and
-- polar_seat_user_by_email, per role, each rule on both sides. Team A (cus_a): Olive
-- (owner), Max (member, claimed seat), a pending invitee, a revoked seat; live subscription
-- sub_a with 3 seats, an older canceled sub_old. Team B (cus_b): no live subscription.
-- Pia has not confirmed her email; Del is soft-deleted.
-- =====================================================================================
begin;
select plan(31);

insert into auth.users (id, email, email_confirmed_at, deleted_at) values
  ('01000000-0000-4000-8000-000000000001', 'olive@example.com', now(), null),
  ('02000000-0000-4000-8000-000000000002', 'Max@Example.com', now(), null),
  ('03000000-0000-4000-8000-000000000003', 'pia@example.com', null, null),
  ('04000000-0000-4000-8000-000000000004', 'del@example.com', now(), now());

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

insert into public.polar_teams (team_id, polar_customer_id, version) values
  ('aaaaaaaa-0000-4000-8000-00000000000a', 'cus_a', now()),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'cus_b', now());
insert into public.polar_team_members (polar_member_id, team_id, user_id, role, version) values
  ('mem_olive', 'aaaaaaaa-0000-4000-8000-00000000000a', '01000000-0000-4000-8000-000000000001',
    'owner', now()),
  ('mem_max', 'aaaaaaaa-0000-4000-8000-00000000000a', '02000000-0000-4000-8000-000000000002',
    'member', now()),
  ('mem_invitee', 'aaaaaaaa-0000-4000-8000-00000000000a', null, 'member', now());
insert into public.polar_team_subscriptions (polar_subscription_id, team_id, status, seats,
  version) values
  ('sub_old', 'aaaaaaaa-0000-4000-8000-00000000000a', 'canceled', 10, now() - interval '1 day'),
  ('sub_a', 'aaaaaaaa-0000-4000-8000-00000000000a', 'active', 3, now()),
  ('sub_b', 'bbbbbbbb-0000-4000-8000-00000000000b', 'past_due', 2, now());
insert into public.polar_team_seats (polar_seat_id, team_id, polar_subscription_id,
  polar_member_id, status, version) values
  ('seat_max', 'aaaaaaaa-0000-4000-8000-00000000000a', 'sub_a', 'mem_max', 'claimed', now()),
  ('seat_invite', 'aaaaaaaa-0000-4000-8000-00000000000a', 'sub_a', 'mem_invitee', 'pending', now()),
  ('seat_gone', 'aaaaaaaa-0000-4000-8000-00000000000a', 'sub_a', null, 'revoked', now()),
  ('seat_old', 'aaaaaaaa-0000-4000-8000-00000000000a', 'sub_old', 'mem_olive', 'claimed', now());

-- ----- service_role ---------------------------------------------------------------------------
select pg_temp.as_role('service_role');
select is(public.polar_team_billing_state('aaaaaaaa-0000-4000-8000-00000000000a') -> 'subscription',
  '{"id": "sub_a", "seats": 3, "status": "active"}'::jsonb,
  'the live subscription is the active one, not the older canceled one');
select is((public.polar_team_billing_state('aaaaaaaa-0000-4000-8000-00000000000a')
  ->> 'taken_seats')::int, 2,
  'taken counts the claimed and the pending seat of the live subscription, not the revoked one nor another subscription''s');
select is(public.polar_team_billing_state('aaaaaaaa-0000-4000-8000-00000000000a')
  ->> 'polar_customer_id', 'cus_a', 'the team''s customer');
select is((public.polar_team_billing_state('aaaaaaaa-0000-4000-8000-00000000000a',
  '02000000-0000-4000-8000-000000000002') ->> 'user_has_seat')::boolean, true,
  'Max holds a seat of team A');
select is((public.polar_team_billing_state('aaaaaaaa-0000-4000-8000-00000000000a',
  '01000000-0000-4000-8000-000000000001') ->> 'user_has_seat')::boolean, true,
  'Olive holds the seat of the old subscription: still a seat of the team');
select is((public.polar_team_billing_state('bbbbbbbb-0000-4000-8000-00000000000b',
  '02000000-0000-4000-8000-000000000002') ->> 'user_has_seat')::boolean, false,
  'Max holds no seat of team B');
select is((public.polar_team_billing_state('aaaaaaaa-0000-4000-8000-00000000000a')
  ->> 'user_has_seat')::boolean, false, 'no user asked: no seat');
select is(public.polar_team_billing_state('bbbbbbbb-0000-4000-8000-00000000000b') -> 'subscription',
  'null'::jsonb, 'a past_due subscription is not live');
select is(public.polar_team_billing_state('cccccccc-0000-4000-8000-00000000000c'),
  '{"polar_customer_id": null, "subscription": null, "taken_seats": 0, "user_has_seat": false, "team_id_is_user": false}'::jsonb,
  'an unknown team has nothing');
select is((public.polar_team_billing_state('02000000-0000-4000-8000-000000000002')
  ->> 'team_id_is_user')::boolean, true, 'a user''s id as a team id is seen');

-- trialing counts as live; revoking Max's seat frees it and takes his seat away.
select pg_temp.as_owner();
update public.polar_team_subscriptions set status = 'trialing' where polar_subscription_id = 'sub_a';
update public.polar_team_seats set status = 'revoked', polar_member_id = null
  where polar_seat_id = 'seat_max';
select pg_temp.as_role('service_role');
select is(public.polar_team_billing_state('aaaaaaaa-0000-4000-8000-00000000000a')
  -> 'subscription' ->> 'status', 'trialing', 'a trialing subscription is live');
select is((public.polar_team_billing_state('aaaaaaaa-0000-4000-8000-00000000000a',
  '02000000-0000-4000-8000-000000000002') ->> 'taken_seats')::int, 1, 'a revoked seat is free');
select is((public.polar_team_billing_state('aaaaaaaa-0000-4000-8000-00000000000a',
  '02000000-0000-4000-8000-000000000002') ->> 'user_has_seat')::boolean, false,
  'Max''s revoked seat is no longer his');

-- A removed member's seat is not the user's.
select pg_temp.as_owner();
update public.polar_team_members set removed = true where polar_member_id = 'mem_olive';
select pg_temp.as_role('service_role');
select is((public.polar_team_billing_state('aaaaaaaa-0000-4000-8000-00000000000a',
  '01000000-0000-4000-8000-000000000001') ->> 'user_has_seat')::boolean, false,
  'a removed member holds no seat');

select is(public.polar_seat_user_by_id('02000000-0000-4000-8000-000000000002'),
  '{"user_id": "02000000-0000-4000-8000-000000000002", "email": "Max@Example.com"}'::jsonb,
  'a user by id, with the email Supabase has');
select is(public.polar_seat_user_by_id('03000000-0000-4000-8000-000000000003') ->> 'user_id',
  '03000000-0000-4000-8000-000000000003', 'by id, an unconfirmed user is still a user');
select is(public.polar_seat_user_by_id('04000000-0000-4000-8000-000000000004'), null,
  'a soft-deleted user is none');
select is(public.polar_seat_user_by_id('05000000-0000-4000-8000-000000000005'), null,
  'an unknown id is none');
select is(public.polar_seat_user_by_email(' max@EXAMPLE.com ') ->> 'user_id',
  '02000000-0000-4000-8000-000000000002', 'a confirmed email, whatever its case and spaces');
select is(public.polar_seat_user_by_email('pia@example.com'), null,
  'an unconfirmed email is no one');
select is(public.polar_seat_user_by_email('del@example.com'), null,
  'a soft-deleted user''s email is no one');
select is(public.polar_seat_user_by_email('nobody@example.com'), null, 'an unknown email is no one');

-- ----- authenticated (two users) and anon -----------------------------------------------------
select pg_temp.as_user('01000000-0000-4000-8000-000000000001');
select throws_ok($$ select public.polar_team_billing_state('aaaaaaaa-0000-4000-8000-00000000000a') $$,
  '42501', 'permission denied for function polar_team_billing_state',
  'Olive, an owner, cannot call polar_team_billing_state');
select throws_ok($$ select public.polar_seat_user_by_email('max@example.com') $$,
  '42501', 'permission denied for function polar_seat_user_by_email',
  'Olive cannot look users up by email');
select pg_temp.as_user('02000000-0000-4000-8000-000000000002');
select throws_ok($$ select public.polar_seat_user_by_id('01000000-0000-4000-8000-000000000001') $$,
  '42501', 'permission denied for function polar_seat_user_by_id',
  'Max cannot look another user up by id');
select throws_ok($$ select public.polar_team_billing_state('aaaaaaaa-0000-4000-8000-00000000000a',
  '02000000-0000-4000-8000-000000000002') $$,
  '42501', 'permission denied for function polar_team_billing_state',
  'Max cannot read his own team''s billing state either');
select pg_temp.as_role('anon');
select throws_ok($$ select public.polar_team_billing_state('aaaaaaaa-0000-4000-8000-00000000000a') $$,
  '42501', 'permission denied for function polar_team_billing_state', 'anon: no billing state');
select throws_ok($$ select public.polar_seat_user_by_id('01000000-0000-4000-8000-000000000001') $$,
  '42501', 'permission denied for function polar_seat_user_by_id', 'anon: no user by id');
select throws_ok($$ select public.polar_seat_user_by_email('olive@example.com') $$,
  '42501', 'permission denied for function polar_seat_user_by_email', 'anon: no user by email');

-- ----- privileges -------------------------------------------------------------------------------
select pg_temp.as_owner();
select ok(not has_function_privilege('public', 'public.polar_team_billing_state(uuid, uuid)',
  'execute'), 'PUBLIC has no execute on polar_team_billing_state');
select ok(has_function_privilege('service_role', 'public.polar_seat_user_by_email(text)',
  'execute'), 'service_role may look users up by confirmed email');

select * from finish();
rollback;
