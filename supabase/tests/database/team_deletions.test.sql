-- =====================================================================================
-- team_deletions (issue 21, point 5): the team outbox written when a user is deleted, hard
-- or soft, in the deleting transaction; access ending at once; the outbox functions per role.
-- Team A (cus_team_a): Olive (owner, claimed seat, "pro"), Max (member, claimed seat, "pro").
-- Team B (cus_team_b): Max again (seat pending), Quinn (member, claimed seat, "pro").
-- Max holds seats in two teams and is hard-deleted; Olive is soft-deleted; Quinn stays.
-- =====================================================================================
begin;
select plan(40);

insert into auth.users (id, email) values
  ('01000000-0000-4000-8000-000000000001', 'olive@example.com'),
  ('02000000-0000-4000-8000-000000000002', 'max@example.com'),
  ('04000000-0000-4000-8000-000000000004', 'quinn@example.com'),
  ('05000000-0000-4000-8000-000000000005', 'ray@example.com');

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

create function pg_temp.outbox() returns table (user_id uuid, kind text, polar_id text,
  polar_customer_id text, polar_member_id text, polar_subscription_id text, role text)
language sql as $$
  select d.user_id, d.kind, d.polar_id, d.polar_customer_id, d.polar_member_id,
    d.polar_subscription_id, d.role
  from polar.team_deletions as d order by d.user_id, d.kind, d.polar_id;
$$;

select pg_temp.apply('team_customer',
  pg_temp.team('cus_team_a', 'aaaaaaaa-0000-4000-8000-00000000000a', '2026-11-01T00:00:00Z'));
select pg_temp.apply('team_customer',
  pg_temp.team('cus_team_b', 'bbbbbbbb-0000-4000-8000-00000000000b', '2026-11-01T00:00:00Z'));
select pg_temp.apply('member', pg_temp.member('mem_olive', 'cus_team_a',
  '01000000-0000-4000-8000-000000000001', 'owner', '2026-11-01T00:00:00Z'));
select pg_temp.apply('member', pg_temp.member('mem_max_a', 'cus_team_a',
  '02000000-0000-4000-8000-000000000002', 'member', '2026-11-01T00:00:00Z'));
select pg_temp.apply('member', pg_temp.member('mem_max_b', 'cus_team_b',
  '02000000-0000-4000-8000-000000000002', 'member', '2026-11-01T00:00:00Z'));
select pg_temp.apply('member', pg_temp.member('mem_quinn', 'cus_team_b',
  '04000000-0000-4000-8000-000000000004', 'member', '2026-11-01T00:00:00Z'));
select pg_temp.apply('subscription', pg_temp.subscription('sub_a', 'cus_team_a', 'active',
  '2026-11-01T00:00:00Z'));
select pg_temp.apply('subscription', pg_temp.subscription('sub_b', 'cus_team_b', 'active',
  '2026-11-01T00:00:00Z'));
select pg_temp.apply('seat', pg_temp.seat('seat_olive', 'cus_team_a', 'mem_olive', 'claimed',
  '2026-11-02T00:00:00Z'));
select pg_temp.apply('seat', pg_temp.seat('seat_max_a', 'cus_team_a', 'mem_max_a', 'claimed',
  '2026-11-02T00:00:00Z'));
select pg_temp.apply('seat', pg_temp.seat('seat_max_b', 'cus_team_b', 'mem_max_b', 'pending',
  '2026-11-02T00:00:00Z', 'sub_b'));
select pg_temp.apply('seat', pg_temp.seat('seat_old', 'cus_team_b', null, 'revoked',
  '2026-11-02T00:00:00Z', 'sub_b'));
select pg_temp.apply('seat', pg_temp.seat('seat_quinn', 'cus_team_b', 'mem_quinn', 'claimed',
  '2026-11-02T00:00:00Z', 'sub_b'));
select pg_temp.apply('grant', pg_temp.grant_of('grant_olive', 'cus_team_a', 'mem_olive', true,
  '2026-11-02T00:00:00Z'));
select pg_temp.apply('grant', pg_temp.grant_of('grant_max_a', 'cus_team_a', 'mem_max_a', true,
  '2026-11-02T00:00:00Z'));
select pg_temp.apply('grant', pg_temp.grant_of('grant_quinn', 'cus_team_b', 'mem_quinn', true,
  '2026-11-02T00:00:00Z') || '{"subscription_id": "sub_b"}');

-- ----- Schema and privileges ------------------------------------------------------------------
select has_table('polar', 'team_deletions', 'the team outbox exists');
select ok((select relrowsecurity from pg_class where oid = 'polar.team_deletions'::regclass),
  'RLS is on for the team outbox');
select ok(not has_table_privilege('anon', 'polar.team_deletions', 'select'),
  'anon cannot read the team outbox');
select ok(not has_table_privilege('authenticated', 'polar.team_deletions', 'select'),
  'authenticated cannot read the team outbox');
select ok(not has_table_privilege('service_role', 'polar.team_deletions', 'select'),
  'service_role reads the team outbox only through its functions');
select ok(not has_function_privilege('anon', 'public.pending_polar_team_deletions(integer)',
  'execute'), 'anon cannot list pending team deletions');
select ok(not has_function_privilege('authenticated',
  'public.pending_polar_team_deletions(integer)', 'execute'),
  'authenticated cannot list pending team deletions');
select ok(has_function_privilege('service_role', 'public.pending_polar_team_deletions(integer)',
  'execute'), 'service_role lists pending team deletions');
select ok(not has_function_privilege('authenticated',
  'public.finish_polar_team_deletion(bigint, text, text)', 'execute'),
  'authenticated cannot finish a team deletion');
select ok(has_function_privilege('service_role',
  'public.finish_polar_team_deletion(bigint, text, text)', 'execute'),
  'service_role finishes team deletions');
select ok(not has_function_privilege('service_role',
  'polar.queue_team_member_deletion(uuid, text)', 'execute'),
  'nobody calls the internal queue function');

select ok(pg_temp.has_team('02000000-0000-4000-8000-000000000002',
  'aaaaaaaa-0000-4000-8000-00000000000a', 'pro'), 'before: Max holds pro through team A');
select ok(pg_temp.has_team('04000000-0000-4000-8000-000000000004',
  'bbbbbbbb-0000-4000-8000-00000000000b', 'pro'), 'before: Quinn holds pro through team B');
select ok(pg_temp.has('01000000-0000-4000-8000-000000000001', 'pro'),
  'before: Olive holds pro through team A');

-- ----- Only a delete that happens queues anything -----------------------------------------------
savepoint undone;
delete from auth.users where id = '02000000-0000-4000-8000-000000000002';
rollback to savepoint undone;
select is((select count(*)::int from polar.team_deletions), 0,
  'a delete rolled back leaves no outbox row: the rows share the delete''s transaction');

create function pg_temp.refuse_delete() returns trigger language plpgsql as $$
begin
  return null;
end;
$$;
create trigger refuse_delete before delete on auth.users
  for each row when (old.email = 'ray@example.com') execute function pg_temp.refuse_delete();
delete from auth.users where id = '05000000-0000-4000-8000-000000000005';
select is((select count(*)::int from polar.team_deletions), 0,
  'a delete an app trigger cancels queues nothing');
drop trigger refuse_delete on auth.users;

-- ----- Hard delete: Max, with seats in two teams -------------------------------------------------
delete from auth.users where id = '02000000-0000-4000-8000-000000000002';
select results_eq($$select * from pg_temp.outbox()$$, $$values
  ('02000000-0000-4000-8000-000000000002'::uuid, 'member', 'mem_max_a', 'cus_team_a', 'mem_max_a',
    null::text, 'member'),
  ('02000000-0000-4000-8000-000000000002'::uuid, 'member', 'mem_max_b', 'cus_team_b', 'mem_max_b',
    null, 'member'),
  ('02000000-0000-4000-8000-000000000002'::uuid, 'seat', 'seat_max_a', 'cus_team_a', 'mem_max_a',
    'sub_a', null),
  ('02000000-0000-4000-8000-000000000002'::uuid, 'seat', 'seat_max_b', 'cus_team_b', 'mem_max_b',
    'sub_b', null)$$,
  'deleting Max queues both members and both seats (claimed and pending), in both teams');
select is((select count(*)::int from public.polar_team_members
  where polar_member_id in ('mem_max_a', 'mem_max_b') and user_id is null), 2,
  'Max''s member links end with the account');
select ok(not polar.holds_team_key('02000000-0000-4000-8000-000000000002', null, 'pro'),
  'Max holds nothing through any team after the delete');
select ok(pg_temp.has_team('04000000-0000-4000-8000-000000000004',
  'bbbbbbbb-0000-4000-8000-00000000000b', 'pro'),
  'Quinn, in Max''s team B, keeps pro');
select is((select user_id from public.polar_team_members where polar_member_id = 'mem_quinn'),
  '04000000-0000-4000-8000-000000000004'::uuid, 'Quinn''s member link stays');
select is((select count(*)::int from polar.team_deletions where polar_id in ('seat_quinn',
  'seat_old', 'mem_quinn')), 0, 'Quinn''s seat and a revoked seat are not queued');

-- ----- Soft delete: Olive, the owner of team A ---------------------------------------------------
update auth.users set deleted_at = now() where id = '01000000-0000-4000-8000-000000000001';
select results_eq($$select * from pg_temp.outbox()
    where user_id = '01000000-0000-4000-8000-000000000001'$$, $$values
  ('01000000-0000-4000-8000-000000000001'::uuid, 'member', 'mem_olive', 'cus_team_a', 'mem_olive',
    null::text, 'owner'),
  ('01000000-0000-4000-8000-000000000001'::uuid, 'seat', 'seat_olive', 'cus_team_a', 'mem_olive',
    'sub_a', null)$$,
  'a soft delete queues the owner member and her seat');
select is((select user_id from public.polar_team_members where polar_member_id = 'mem_olive'),
  null, 'a soft delete ends the member link at once');
select ok(not pg_temp.has('01000000-0000-4000-8000-000000000001', 'pro'),
  'Olive''s still-valid token holds nothing through team A after the soft delete');
select pg_temp.apply('member', pg_temp.member('mem_olive', 'cus_team_a',
  '01000000-0000-4000-8000-000000000001', 'owner', '2026-11-05T00:00:00Z'));
select is((select user_id from public.polar_team_members where polar_member_id = 'mem_olive'),
  null, 'a newer member.updated for a soft-deleted user links nothing');
delete from auth.users where id = '01000000-0000-4000-8000-000000000001';
select is((select count(*)::int from polar.team_deletions), 6,
  'the hard delete after a soft delete queues nothing twice');

-- ----- A member Polar already removed is not queued -----------------------------------------------
insert into auth.users (id, email) values ('06000000-0000-4000-8000-000000000006', 'sam@example.com');
select pg_temp.apply('member_deleted', pg_temp.member('mem_sam', 'cus_team_b',
  '06000000-0000-4000-8000-000000000006', 'member', '2026-11-03T00:00:00Z'));
delete from auth.users where id = '06000000-0000-4000-8000-000000000006';
select is((select count(*)::int from polar.team_deletions where polar_id = 'mem_sam'), 0,
  'a removed member (Polar deleted it) is not queued');

-- ----- A link that ends while its user exists queues nothing ------------------------------------
select pg_temp.apply('member', pg_temp.member('mem_ray', 'cus_team_b',
  '05000000-0000-4000-8000-000000000005', 'member', '2026-11-01T00:00:00Z'));
update public.polar_team_members set user_id = null where polar_member_id = 'mem_ray';
select is((select count(*)::int from polar.team_deletions
  where user_id = '05000000-0000-4000-8000-000000000005'), 0,
  'unlinking a live user''s member (no delete) queues nothing');

-- ----- The outbox functions ---------------------------------------------------------------------
-- Row ids in settings, not psql variables: PGlite runs these files too.
select set_config('test.' || polar_id, id::text, false) from polar.team_deletions
where polar_id in ('seat_max_a', 'seat_max_b', 'mem_olive');
select pg_temp.as_role('service_role');
select is((select kind from public.pending_polar_team_deletions(50)
  where user_id = '02000000-0000-4000-8000-000000000002' limit 1), 'seat',
  'each user''s seats come before their members');
select is((select count(*)::int from public.pending_polar_team_deletions(50)), 6,
  'service_role sees every pending row');
select is((select count(*)::int from public.pending_polar_team_deletions(2)), 2,
  'max_rows bounds the pass');
select public.finish_polar_team_deletion(current_setting('test.seat_max_a')::bigint, 'revoked', null);
select public.finish_polar_team_deletion(current_setting('test.seat_max_b')::bigint, null, 'Polar answered 503');
select public.finish_polar_team_deletion(current_setting('test.mem_olive')::bigint, 'owner_kept',
  'Polar refuses to delete the team''s only owner');
select pg_temp.as_owner();
select results_eq($$select polar_id, attempts, outcome, completed_at is not null, last_error
    from polar.team_deletions where polar_id in ('seat_max_a', 'seat_max_b', 'mem_olive')
    order by polar_id$$,
  $$values ('mem_olive', 1, 'owner_kept', false, 'Polar refuses to delete the team''s only owner'),
    ('seat_max_a', 1, 'revoked', true, null::text),
    ('seat_max_b', 1, null::text, false, 'Polar answered 503')$$,
  'done, kept as the only owner, and failed (counted, pending)');
select pg_temp.as_role('service_role');
select ok(not exists (select 1 from public.pending_polar_team_deletions(50)
  where polar_id in ('seat_max_a', 'mem_olive')),
  'a done row is gone from the pass; a kept owner waits an hour');
select ok(exists (select 1 from public.pending_polar_team_deletions(50)
  where polar_id = 'seat_max_b'), 'a failed row is tried again');
select throws_ok($$select public.finish_polar_team_deletion(1, 'maybe', null)$$, '22023',
  'unknown outcome maybe', 'an unknown outcome is refused');
select throws_ok($$select public.finish_polar_team_deletion(1, null, null)$$, '22023',
  'an outcome or an error is required', 'an attempt names its outcome or its error');
select pg_temp.as_owner();
update polar.team_deletions set last_attempt_at = now() - interval '2 hours'
  where polar_id = 'mem_olive';
select pg_temp.as_role('service_role');
select ok(exists (select 1 from public.pending_polar_team_deletions(50)
  where polar_id = 'mem_olive'), 'a kept owner comes back after an hour');
select pg_temp.as_role('authenticated');
select throws_ok($$select * from public.pending_polar_team_deletions(50)$$, '42501', null,
  'authenticated is refused the pending list');
select pg_temp.as_role('anon');
select throws_ok($$select public.finish_polar_team_deletion(1, 'revoked', null)$$, '42501', null,
  'anon is refused finishing a deletion');
select pg_temp.as_owner();

select * from finish();
rollback;
