-- =====================================================================================
-- identity: public.link_polar_customer and the external_id-only rules of
-- public.apply_polar_webhook. A user and a Polar customer are linked by the customer's
-- external_id and by nothing else; one section per role, then the owner's view.
-- =====================================================================================
begin;
select plan(34);

-- ----- Fixtures ---------------------------------------------------------------------------
insert into auth.users (id, email) values
  ('55555555-5555-4555-8555-555555555555', 'dora@example.com'),
  ('66666666-6666-4666-8666-666666666666', 'eve@example.com');

create temporary table event_change (label text primary key, change jsonb) on commit drop;
grant select on event_change to anon, authenticated, service_role;
insert into event_change values
  ('dora by metadata only', jsonb_build_object(
    'customer_id', 'cus_anonymous', 'external_id', null,
    'metadata_user_id', '55555555-5555-4555-8555-555555555555',
    'customer_version', '2026-11-27T09:00:00Z', 'customer_deleted', false,
    'subscription', jsonb_build_object('id', 'sub_x', 'status', 'active', 'version', '2026-11-27T09:00:00Z'))),
  ('dora''s customer, eve''s metadata', jsonb_build_object(
    'customer_id', 'cus_dora', 'external_id', '55555555-5555-4555-8555-555555555555',
    'metadata_user_id', '66666666-6666-4666-8666-666666666666',
    'customer_version', '2026-11-27T09:00:00Z', 'customer_deleted', false,
    'subscription', jsonb_build_object('id', 'sub_eve', 'status', 'active', 'version', '2026-11-27T09:05:00Z'))),
  ('dora''s customer, her own metadata in capitals', jsonb_build_object(
    'customer_id', 'cus_dora', 'external_id', '55555555-5555-4555-8555-555555555555',
    'metadata_user_id', '55555555-5555-4555-8555-555555555555',
    'customer_version', '2026-11-27T08:00:00Z', 'customer_deleted', false,
    'subscription', jsonb_build_object('id', 'sub_dora', 'status', 'active', 'version', '2026-11-27T09:10:00Z')));
update event_change
set change = jsonb_set(change, '{metadata_user_id}', to_jsonb(upper(change ->> 'metadata_user_id')))
where label = 'dora''s customer, her own metadata in capitals';

-- ----- Schema -----------------------------------------------------------------------------
select has_function('public', 'link_polar_customer',
  array['uuid', 'text', 'text', 'timestamp with time zone', 'boolean'],
  'link_polar_customer(uuid, text, text, timestamptz, boolean) exists');
select is_definer('public', 'link_polar_customer',
  array['uuid', 'text', 'text', 'timestamp with time zone', 'boolean'],
  'link_polar_customer is security definer (it reads auth.users)');
select is(
  (select proconfig from pg_proc
    where oid = 'public.link_polar_customer(uuid, text, text, timestamptz, boolean)'::regprocedure),
  array['search_path=""'], 'link_polar_customer pins an empty search_path');

-- ----- Privileges -------------------------------------------------------------------------
select function_privs_are('public', 'link_polar_customer',
  array['uuid', 'text', 'text', 'timestamptz', 'boolean'], 'anon', array[]::text[],
  'anon cannot execute link_polar_customer');
select function_privs_are('public', 'link_polar_customer',
  array['uuid', 'text', 'text', 'timestamptz', 'boolean'], 'authenticated', array[]::text[],
  'authenticated cannot execute link_polar_customer');
select function_privs_are('public', 'link_polar_customer',
  array['uuid', 'text', 'text', 'timestamptz', 'boolean'], 'service_role', array['EXECUTE'],
  'service_role can execute link_polar_customer');
select ok(
  not exists (
    select from pg_proc, aclexplode(proacl) as acl
    where pg_proc.oid = 'public.link_polar_customer(uuid, text, text, timestamptz, boolean)'::regprocedure
      and acl.grantee = 0),
  'PUBLIC cannot execute link_polar_customer');
select function_privs_are('polar', 'lock_user_subscription', array['uuid'], 'service_role',
  array[]::text[], 'the row lock is internal: not even service_role calls it');
select function_privs_are('polar', 'user_id_of', array['text'], 'service_role',
  array[]::text[], 'the external_id lookup is internal: not even service_role calls it');

-- ----- anon -------------------------------------------------------------------------------
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok(
  $$select public.link_polar_customer('55555555-5555-4555-8555-555555555555', 'cus_x',
    '55555555-5555-4555-8555-555555555555', now())$$,
  '42501', 'permission denied for function link_polar_customer',
  'anon cannot link a customer');

-- ----- authenticated ----------------------------------------------------------------------
reset role;
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"66666666-6666-4666-8666-666666666666","role":"authenticated"}', true);
select throws_ok(
  $$select public.link_polar_customer('66666666-6666-4666-8666-666666666666', 'cus_dora',
    '66666666-6666-4666-8666-666666666666', now())$$,
  '42501', 'permission denied for function link_polar_customer',
  'a signed-in user cannot link any customer to themselves');

-- ----- service_role: link_polar_customer ----------------------------------------------------
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);

select is(
  public.link_polar_customer('55555555-5555-4555-8555-555555555555', 'cus_dora',
    '66666666-6666-4666-8666-666666666666', '2026-11-27T08:00:00Z'),
  '{"outcome": "refused", "reason": "identity conflict"}'::jsonb,
  'a customer whose external_id is another user is refused');
select is(
  public.link_polar_customer('55555555-5555-4555-8555-555555555555', 'cus_dora',
    null, '2026-11-27T08:00:00Z'),
  '{"outcome": "refused", "reason": "identity conflict"}'::jsonb,
  'a customer without external_id is refused');
select is(
  public.link_polar_customer('77777777-7777-4777-8777-777777777777', 'cus_ghost',
    '77777777-7777-4777-8777-777777777777', '2026-11-27T08:00:00Z'),
  '{"outcome": "refused", "reason": "no such user"}'::jsonb,
  'a user that does not exist is refused');
select is(
  (select count(*)::int from public.user_subscriptions),
  0, 'refused links wrote nothing');

select is(
  public.link_polar_customer('55555555-5555-4555-8555-555555555555', 'cus_dora',
    '55555555-5555-4555-8555-555555555555', '2026-11-27T08:00:00Z', dry_run => true),
  '{"outcome": "linked"}'::jsonb,
  'a dry run says the link would be made');
select is(
  (select count(*)::int from public.user_subscriptions),
  0, 'a dry run writes nothing');

select is(
  public.link_polar_customer('55555555-5555-4555-8555-555555555555', 'cus_dora',
    '55555555-5555-4555-8555-555555555555', '2026-11-27T08:00:00Z'),
  '{"outcome": "linked"}'::jsonb,
  'the customer whose external_id is the user links');
select results_eq(
  $$select polar_customer_id, polar_customer_modified_at, status
    from public.user_subscriptions where user_id = '55555555-5555-4555-8555-555555555555'$$,
  $$values ('cus_dora'::text, '2026-11-27T08:00:00Z'::timestamptz, null::text)$$,
  'the row holds the link and the customer''s version, and no subscription yet');
select is(
  public.link_polar_customer('55555555-5555-4555-8555-555555555555', 'cus_dora',
    '55555555-5555-4555-8555-555555555555', '2026-11-27T08:00:00Z'),
  '{"outcome": "unchanged"}'::jsonb,
  'linking again changes nothing');
select is(
  public.link_polar_customer('66666666-6666-4666-8666-666666666666', 'cus_dora',
    '66666666-6666-4666-8666-666666666666', '2026-11-27T08:00:00Z'),
  '{"outcome": "refused", "reason": "customer is linked to another user"}'::jsonb,
  'a customer another user''s row holds is refused');
select is(
  public.link_polar_customer('55555555-5555-4555-8555-555555555555', 'cus_dora_2',
    '55555555-5555-4555-8555-555555555555', '2026-11-27T07:00:00Z'),
  '{"outcome": "linked"}'::jsonb,
  'a verified link replaces what the row held');
select results_eq(
  $$select polar_customer_id, polar_customer_modified_at
    from public.user_subscriptions where user_id = '55555555-5555-4555-8555-555555555555'$$,
  $$values ('cus_dora_2'::text, '2026-11-27T08:00:00Z'::timestamptz)$$,
  'the customer clock never moves back, so older customer events stay stale');
select throws_ok(
  $$select public.link_polar_customer(null, 'cus_x', 'x', now())$$,
  '22004', 'user_id, customer_id and customer_version are required',
  'a call without the user is refused');

-- ----- service_role: apply_polar_webhook links by external_id only --------------------------
select is(
  public.apply_polar_webhook('msg_id_1', 'subscription.created', '2026-11-27T09:00:01Z',
    (select change from event_change where label = 'dora by metadata only')),
  '{"outcome": "skipped", "reason": "customer has no external_id"}'::jsonb,
  'metadata.user_id alone links nothing');
select is(
  public.apply_polar_webhook('msg_id_2', 'subscription.created', '2026-11-27T09:05:01Z',
    (select change from event_change where label = 'dora''s customer, eve''s metadata')),
  '{"outcome": "skipped", "reason": "identity conflict"}'::jsonb,
  'a metadata.user_id that disagrees with external_id is an identity conflict');
select is(
  (select count(*)::int from public.user_subscriptions
    where user_id = '66666666-6666-4666-8666-666666666666'),
  0, 'the user the metadata names gets no row');
select is(
  (select polar_subscription_id from public.user_subscriptions
    where user_id = '55555555-5555-4555-8555-555555555555'),
  null, 'nor does the conflicting subscription reach the customer''s user');
select is(
  public.link_polar_customer('55555555-5555-4555-8555-555555555555', 'cus_dora',
    '55555555-5555-4555-8555-555555555555', '2026-11-27T08:00:00Z'),
  '{"outcome": "linked"}'::jsonb,
  'dora''s own customer links back');
select is(
  public.apply_polar_webhook('msg_id_3', 'subscription.created', '2026-11-27T09:10:01Z',
    (select change from event_change where label = 'dora''s customer, her own metadata in capitals')),
  '{"outcome": "applied"}'::jsonb,
  'a metadata.user_id equal to external_id but for case is no conflict');
select results_eq(
  $$select polar_customer_id, polar_subscription_id, status
    from public.user_subscriptions where user_id = '55555555-5555-4555-8555-555555555555'$$,
  $$values ('cus_dora'::text, 'sub_dora'::text, 'active'::text)$$,
  'the subscription reaches the user its customer''s external_id names');

-- ----- Owner: what was recorded -----------------------------------------------------------
reset role;
select results_eq(
  $$select webhook_id, outcome, reason, user_id
    from polar.webhook_deliveries where webhook_id like 'msg_id_%' order by webhook_id$$,
  $$values
    ('msg_id_1'::text, 'skipped'::text, 'customer has no external_id'::text, null::uuid),
    ('msg_id_2', 'skipped', 'identity conflict', null),
    ('msg_id_3', 'applied', null, '55555555-5555-4555-8555-555555555555')$$,
  'each delivery is recorded with its outcome and reason');
select is(
  (select customer_id from polar.webhook_deliveries where webhook_id = 'msg_id_2'),
  'cus_dora', 'an identity conflict records the customer it was about');
select is(
  (select count(*)::int from public.user_subscriptions),
  1, 'one row in all: dora''s');

select * from finish();
rollback;
