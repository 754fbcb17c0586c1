-- =====================================================================================
-- identity, at its boundaries (issue 22): link_polar_customer's dry run for a user who
-- already has a row; external ids and metadata in capitals, with UUIDs that have letters
-- (an all-digit UUID reads the same in capitals, so it cannot tell a missing lower());
-- and the row lock every writer takes, on the right row only.
-- Users: Kim and Lou (UUIDs with letters, both linked), Max (no row yet).
-- =====================================================================================
begin;
select plan(28);

-- ----- Fixtures -----------------------------------------------------------------------------
insert into auth.users (id, email) values
  ('c0ffee00-abcd-4ef0-8abc-def012345678', 'kim@example.com'),
  ('deadbeef-0000-4000-8000-00000000beef', 'lou@example.com'),
  ('facade00-1234-4bcd-9ef0-0123456789ab', 'max@example.com');
insert into public.user_subscriptions
  (user_id, polar_customer_id, polar_customer_verified, polar_customer_modified_at) values
  ('c0ffee00-abcd-4ef0-8abc-def012345678', 'cus_kim', true, '2026-11-01T00:00:00Z'),
  ('deadbeef-0000-4000-8000-00000000beef', 'cus_lou', false, '2026-11-01T00:00:00Z');

-- A change in apply_polar_webhook's format with a subscription, for a customer.
create function pg_temp.change(
  customer text, external_id text, metadata_user_id text, version text, subscription_id text
) returns jsonb language sql as $$
  select jsonb_build_object('customer_id', customer, 'external_id', external_id,
    'metadata_user_id', metadata_user_id, 'customer_version', version, 'customer_deleted', false,
    'subscription', jsonb_build_object('id', subscription_id, 'status', 'active',
      'version', version));
$$;

-- Each user's link, as one comparable row.
create function pg_temp.link_of(id uuid) returns text language sql as $$
  select concat_ws(' ', s.polar_customer_id, s.polar_customer_verified,
    s.polar_customer_modified_at at time zone 'UTC')
  from public.user_subscriptions as s where s.user_id = id;
$$;

-- ----- Owner: the row lock is taken on the caller's row, and only there -----------------------
-- A row a transaction locked FOR UPDATE carries that transaction's id in xmax until it ends; a
-- row merely read or inserted does not. (The two-session test is reliability/locks_suite.ts.)
select is(
  (select xmax::text from public.user_subscriptions
    where user_id = 'c0ffee00-abcd-4ef0-8abc-def012345678'),
  '0', 'before the lock, Kim''s row carries no locker');
select polar.lock_user_subscription('c0ffee00-abcd-4ef0-8abc-def012345678');
select is(
  (select xmax::text from public.user_subscriptions
    where user_id = 'c0ffee00-abcd-4ef0-8abc-def012345678'),
  pg_current_xact_id()::xid::text,
  'lock_user_subscription locks Kim''s row FOR UPDATE until the transaction ends');
select is(
  (select xmax::text from public.user_subscriptions
    where user_id = 'deadbeef-0000-4000-8000-00000000beef'),
  '0', 'and leaves Lou''s row unlocked');
select polar.lock_user_subscription('facade00-1234-4bcd-9ef0-0123456789ab');
select is(
  (select xmax::text from public.user_subscriptions
    where user_id = 'facade00-1234-4bcd-9ef0-0123456789ab'),
  pg_current_xact_id()::xid::text,
  'a user without a row gets one, locked as well');

-- ----- service_role: a dry run for a user who has a row writes nothing -------------------------
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is(
  public.link_polar_customer('c0ffee00-abcd-4ef0-8abc-def012345678', 'cus_kim_2',
    'c0ffee00-abcd-4ef0-8abc-def012345678', '2026-11-20T00:00:00Z', dry_run => true),
  '{"outcome": "linked"}'::jsonb,
  'a dry run for a linked user says the new link would be made');
select is(pg_temp.link_of('c0ffee00-abcd-4ef0-8abc-def012345678'),
  'cus_kim t 2026-11-01 00:00:00', 'but Kim''s link, its flag and its clock are unchanged');
select is(
  public.link_polar_customer('deadbeef-0000-4000-8000-00000000beef', 'cus_lou',
    'deadbeef-0000-4000-8000-00000000beef', '2026-11-20T00:00:00Z', dry_run => true),
  '{"outcome": "linked"}'::jsonb,
  'a dry run for a legacy link says it would be verified');
select is(pg_temp.link_of('deadbeef-0000-4000-8000-00000000beef'),
  'cus_lou f 2026-11-01 00:00:00', 'but Lou''s link stays unverified');
select is(
  public.link_polar_customer('c0ffee00-abcd-4ef0-8abc-def012345678', 'cus_kim',
    'c0ffee00-abcd-4ef0-8abc-def012345678', '2026-11-20T00:00:00Z', dry_run => true),
  '{"outcome": "unchanged"}'::jsonb,
  'a dry run of the link a row already holds, verified, says unchanged');
select is(
  public.link_polar_customer('c0ffee00-abcd-4ef0-8abc-def012345678', 'cus_kim_2',
    'c0ffee00-abcd-4ef0-8abc-def012345678', '2026-11-20T00:00:00Z'),
  '{"outcome": "linked"}'::jsonb,
  'the same call without dry_run links');
select is(pg_temp.link_of('c0ffee00-abcd-4ef0-8abc-def012345678'),
  'cus_kim_2 t 2026-11-20 00:00:00', 'and stores the link, verified, with the customer''s clock');
select is(pg_temp.link_of('deadbeef-0000-4000-8000-00000000beef'),
  'cus_lou f 2026-11-01 00:00:00', 'Lou''s row is untouched by Kim''s link');

-- ----- service_role: external ids in capitals, with letters --------------------------------------
select is(
  public.link_polar_customer('deadbeef-0000-4000-8000-00000000beef', 'cus_lou',
    'DEADBEEF-0000-4000-8000-00000000BEEF', '2026-11-21T00:00:00Z'),
  '{"outcome": "linked"}'::jsonb,
  'a customer whose external_id is the user''s id in capitals links (and verifies)');
select is(pg_temp.link_of('deadbeef-0000-4000-8000-00000000beef'),
  'cus_lou t 2026-11-21 00:00:00', 'Lou''s link is verified');
select is(
  public.link_polar_customer('deadbeef-0000-4000-8000-00000000beef', 'cus_lou',
    'C0FFEE00-ABCD-4EF0-8ABC-DEF012345678', '2026-11-21T00:00:00Z'),
  '{"outcome": "refused", "reason": "identity conflict"}'::jsonb,
  'another user''s id in capitals is still an identity conflict');
select is(
  public.link_polar_customer('facade00-1234-4bcd-9ef0-0123456789ab', 'cus_max',
    'FACADE00-1234-4BCD-9EF0-0123456789AB', '2026-11-21T00:00:00Z', dry_run => true),
  '{"outcome": "linked"}'::jsonb,
  'a dry run in capitals answers as the real call would');

-- Kim's link goes back to unverified, so a webhook must verify it again.
reset role;
update public.user_subscriptions set polar_customer_verified = false
where user_id = 'c0ffee00-abcd-4ef0-8abc-def012345678';
set local role service_role;
select is(
  public.apply_polar_webhook('msg_kim_caps', 'subscription.active', now(),
    pg_temp.change('cus_kim_2', 'C0FFEE00-ABCD-4EF0-8ABC-DEF012345678',
      'c0ffee00-abcd-4ef0-8abc-def012345678', '2026-11-22T00:00:00Z', 'sub_kim')),
  '{"outcome": "applied"}'::jsonb,
  'an event whose external_id is in capitals, with metadata in lower case, applies');
select is(pg_temp.link_of('c0ffee00-abcd-4ef0-8abc-def012345678'),
  'cus_kim_2 t 2026-11-22 00:00:00',
  'and verifies the link: the external_id is the user''s id whatever its case');
select is(
  public.apply_polar_webhook('msg_lou_caps_meta', 'subscription.active', now(),
    pg_temp.change('cus_lou', 'deadbeef-0000-4000-8000-00000000beef',
      'DEADBEEF-0000-4000-8000-00000000BEEF', '2026-11-22T00:00:00Z', 'sub_lou')),
  '{"outcome": "applied"}'::jsonb,
  'a metadata.user_id in capitals (with letters) that is the external_id is no conflict');
select is(
  public.apply_polar_webhook('msg_lou_kims_meta', 'subscription.active', now(),
    pg_temp.change('cus_lou', 'deadbeef-0000-4000-8000-00000000beef',
      'C0FFEE00-ABCD-4EF0-8ABC-DEF012345678', '2026-11-23T00:00:00Z', 'sub_lou_2')),
  '{"outcome": "skipped", "reason": "identity conflict"}'::jsonb,
  'another user''s id in capitals as metadata.user_id is one');
select is(
  public.apply_polar_webhook('msg_caps_unknown', 'subscription.active', now(),
    pg_temp.change('cus_nobody', 'ABCDEF00-1234-4BCD-9EF0-0123456789AB', null,
      '2026-11-23T00:00:00Z', 'sub_nobody')),
  '{"outcome": "skipped", "reason": "no user matches external_id"}'::jsonb,
  'an external_id in capitals that names no user names no one');
select is(
  public.apply_polar_state('c0ffee00-abcd-4ef0-8abc-def012345678',
    pg_temp.change('cus_kim_2', 'C0FFEE00-ABCD-4EF0-8ABC-DEF012345678', null,
      '2026-11-24T00:00:00Z', 'sub_kim')) ->> 'outcome',
  'applied', 'a pulled change whose external_id is the user''s in capitals applies to that user');
select is(
  public.apply_polar_state('deadbeef-0000-4000-8000-00000000beef',
    pg_temp.change('cus_kim_2', 'C0FFEE00-ABCD-4EF0-8ABC-DEF012345678', null,
      '2026-11-25T00:00:00Z', 'sub_kim')),
  '{"outcome": "skipped", "reason": "identity conflict"}'::jsonb,
  'and is refused for any other user');

-- ----- The owners: the gates count the links verified in capitals --------------------------------
reset role;
select set_config('role', 'authenticated', true);
select set_config('request.jwt.claims',
  '{"sub":"c0ffee00-abcd-4ef0-8abc-def012345678","role":"authenticated"}', true);
select is(public.has_active_subscription(), true, 'Kim''s subscription counts');
reset role;
select set_config('role', 'authenticated', true);
select set_config('request.jwt.claims',
  '{"sub":"deadbeef-0000-4000-8000-00000000beef","role":"authenticated"}', true);
select is(public.has_active_subscription(), true, 'so does Lou''s');

-- ----- Owner: what was recorded ------------------------------------------------------------------
reset role;
select results_eq(
  $$select webhook_id, outcome, user_id from polar.webhook_deliveries
    where webhook_id in ('msg_kim_caps', 'msg_lou_caps_meta') order by webhook_id$$,
  $$values ('msg_kim_caps'::text, 'applied'::text, 'c0ffee00-abcd-4ef0-8abc-def012345678'::uuid),
    ('msg_lou_caps_meta', 'applied', 'deadbeef-0000-4000-8000-00000000beef')$$,
  'each delivery is recorded against the user in the form auth.users prints');
select is(
  (select count(*)::int from public.polar_subscriptions where id in ('sub_lou_2', 'sub_nobody')),
  0, 'the refused events stored no subscription');
select is(
  (select count(*)::int from public.user_subscriptions
    where user_id = 'facade00-1234-4bcd-9ef0-0123456789ab' and polar_customer_id is not null),
  0, 'Max''s dry run linked nothing');

select * from finish();
rollback;
