-- =====================================================================================
-- sync, at its boundaries (issue 22): the per-user interval, the users' budget, the
-- reconcile's "since" and the pulled snapshot's stale subscriptions, each on both sides of
-- its comparison and, where it scopes by user, with two users. now() is fixed inside the
-- transaction, so every instant below is exact.
-- Users: Hal, Ivy (linked, verified), Jo (linked, never reconciled).
-- =====================================================================================
begin;
select plan(22);

-- ----- Fixtures ---------------------------------------------------------------------------------
insert into auth.users (id, email) values
  ('a1000000-0000-4000-8000-0000000000a1', 'hal@example.com'),
  ('b2000000-0000-4000-8000-0000000000b2', 'ivy@example.com'),
  ('c3000000-0000-4000-8000-0000000000c3', 'jo@example.com');
insert into public.user_subscriptions
  (user_id, polar_customer_id, polar_customer_verified, polar_synced_at, polar_reconciled_at,
    polar_customer_modified_at) values
  ('a1000000-0000-4000-8000-0000000000a1', 'cus_hal', true, now() - interval '5 seconds',
    '2026-11-27T10:00:00Z', '2026-11-01T00:00:00Z'),
  ('b2000000-0000-4000-8000-0000000000b2', 'cus_ivy', true,
    now() - interval '5 seconds' + interval '1 microsecond', '2026-11-27T09:59:59.999999Z',
    '2026-11-01T00:00:00Z'),
  ('c3000000-0000-4000-8000-0000000000c3', 'cus_jo', true, null, null, '2026-11-01T00:00:00Z');
insert into public.polar_subscriptions
  (id, user_id, polar_customer_id, product_id, status, polar_modified_at, in_latest_state) values
  ('sub_hal_as_old', 'a1000000-0000-4000-8000-0000000000a1', 'cus_hal', 'prod_pro', 'active',
    '2026-11-27T12:00:00Z', false),
  ('sub_hal_newer', 'a1000000-0000-4000-8000-0000000000a1', 'cus_hal', 'prod_pro', 'active',
    '2026-11-27T12:00:00.000001Z', false),
  ('sub_hal_ended', 'a1000000-0000-4000-8000-0000000000a1', 'cus_hal', 'prod_pro', 'canceled',
    '2026-11-27T11:00:00Z', false),
  ('sub_ivy', 'b2000000-0000-4000-8000-0000000000b2', 'cus_ivy', 'prod_pro', 'active',
    '2026-11-27T11:00:00Z', true);

-- A pulled Customer State for Hal, built at `at`, that lists no subscription.
create function pg_temp.hal_state(at text) returns jsonb language sql as $$
  select jsonb_build_object('customer_id', 'cus_hal',
    'external_id', 'a1000000-0000-4000-8000-0000000000a1', 'metadata_user_id', null,
    'customer_version', '2026-11-01T00:00:00Z', 'customer_deleted', false, 'subscription', null,
    'state', jsonb_build_object('at', at, 'subscriptions', '[]'::jsonb, 'grants', '[]'::jsonb,
      'meters', '[]'::jsonb));
$$;

-- ----- service_role: the per-user interval, on both sides ----------------------------------------
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is(
  public.claim_polar_user_sync('a1000000-0000-4000-8000-0000000000a1', '5 seconds', 600000, 1000)
    ->> 'outcome',
  'claimed', 'a user pulled exactly the interval ago may be pulled again');
select is(
  public.claim_polar_user_sync('b2000000-0000-4000-8000-0000000000b2', '5 seconds', 600000, 1000)
    ->> 'outcome',
  'recent', 'one pulled 1 µs less than the interval ago may not');
select is(
  public.claim_polar_user_sync('a1000000-0000-4000-8000-0000000000a1', '5 seconds', 600000, 1000)
    ->> 'outcome',
  'recent', 'and the claimed user has just been pulled');
reset role;
select results_eq(
  $$select user_id, polar_synced_at - now() from public.user_subscriptions
    where polar_synced_at is not null order by user_id$$,
  $$values ('a1000000-0000-4000-8000-0000000000a1'::uuid, interval '0'),
    ('b2000000-0000-4000-8000-0000000000b2', interval '-4.999999 seconds')$$,
  'the claim moved Hal''s clock to now and left Ivy''s where it was');

-- ----- Owner: the users' budget, at the edge of its burst ------------------------------------------
-- 60 a minute is one call a second; a burst of 2 allows a call while the pace is at most one
-- second ahead of now.
update polar.user_sync_budget set next_at = now() + interval '1 second';
select is(polar.take_sync_budget(60, 2), true,
  'a call is allowed when the pace is exactly burst - 1 intervals ahead');
select is((select next_at - now() from polar.user_sync_budget), interval '2 seconds',
  'and moves the pace one interval on');
select is(polar.take_sync_budget(60, 2), false, 'the next one, two intervals ahead, is not');
select is((select next_at - now() from polar.user_sync_budget), interval '2 seconds',
  'and a refused call moves nothing');
update polar.user_sync_budget set next_at = now() + interval '1.000001 seconds';
select is(polar.take_sync_budget(60, 2), false, 'nor one when the pace is 1 µs past the edge');
update polar.user_sync_budget set next_at = now() - interval '1 day';
select is(polar.take_sync_budget(60, 1), true, 'a pace left in the past allows a call');
select is((select next_at - now() from polar.user_sync_budget), interval '1 second',
  'counting from now, not from the past');
select is(polar.take_sync_budget(60, 1), false, 'with a burst of 1, one call at a time');
select is(
  (select public.claim_polar_user_sync('c3000000-0000-4000-8000-0000000000c3', '5 seconds', 60, 1)
    ->> 'outcome'),
  'budget', 'a spent budget refuses a user who has never been pulled');
select is(
  (select polar_synced_at from public.user_subscriptions
    where user_id = 'c3000000-0000-4000-8000-0000000000c3'),
  null, 'and does not move that user''s clock');

-- ----- service_role: the reconcile's "since", on both sides ------------------------------------------
set local role service_role;
select results_eq(
  $$select user_id from public.polar_unreconciled_users('2026-11-27T10:00:00Z') order by user_id$$,
  $$values ('b2000000-0000-4000-8000-0000000000b2'::uuid), ('c3000000-0000-4000-8000-0000000000c3')$$,
  'users reconciled before "since", or never, are listed; one reconciled exactly then is not');
select results_eq(
  $$select user_id from public.polar_unreconciled_users('2026-11-27T10:00:00.000001Z', 1)$$,
  $$values ('a1000000-0000-4000-8000-0000000000a1'::uuid)$$,
  '1 µs later it is, and max_rows bounds the list');

-- ----- service_role: a pulled snapshot names the subscriptions it leaves out ---------------------------
select is(
  public.apply_polar_state('a1000000-0000-4000-8000-0000000000a1',
    pg_temp.hal_state('2026-11-27T12:00:00Z')) -> 'stale_subscriptions',
  '["sub_hal_as_old"]'::jsonb,
  'an active subscription exactly as old as the snapshot that leaves it out is to be pulled; a newer one, an ended one and another user''s are not');
select is(
  public.apply_polar_state('a1000000-0000-4000-8000-0000000000a1',
    pg_temp.hal_state('2026-11-27T12:00:00.000001Z')) -> 'stale_subscriptions',
  '["sub_hal_as_old", "sub_hal_newer"]'::jsonb,
  'a snapshot 1 µs newer leaves out the newer one too');
reset role;
select results_eq(
  $$select user_id, polar_reconciled_at = now() from public.user_subscriptions order by user_id$$,
  $$values ('a1000000-0000-4000-8000-0000000000a1'::uuid, true),
    ('b2000000-0000-4000-8000-0000000000b2', false), ('c3000000-0000-4000-8000-0000000000c3', null)$$,
  'the pull marks Hal reconciled, and no one else');
select results_eq(
  $$select id, in_latest_state from public.polar_subscriptions order by id$$,
  $$values ('sub_hal_as_old'::text, false), ('sub_hal_ended', false), ('sub_hal_newer', false),
    ('sub_ivy', true)$$,
  'Hal''s snapshot touched no subscription''s flag but his own');

-- ----- Owners: the gates ---------------------------------------------------------------------------------
select set_config('role', 'authenticated', true);
select set_config('request.jwt.claims',
  '{"sub":"a1000000-0000-4000-8000-0000000000a1","role":"authenticated"}', true);
select is(public.has_active_subscription(), false,
  'Hal''s subscriptions, all left out by a snapshot at least as new, do not count');
reset role;
select set_config('role', 'authenticated', true);
select set_config('request.jwt.claims',
  '{"sub":"b2000000-0000-4000-8000-0000000000b2","role":"authenticated"}', true);
select is(public.has_active_subscription(), true, 'Ivy''s, with no snapshot of hers, still does');

select * from finish();
rollback;
