-- =====================================================================================
-- polar_webhooks: polar.webhook_deliveries and public.apply_polar_webhook, their
-- privileges, and what the function does with duplicate, stale and unmappable events.
-- One section per role: anon, authenticated, service role; then the owner's view.
-- =====================================================================================
begin;
select plan(41);

-- ----- Fixtures: a user, and the change a subscription event carries --------------------
insert into auth.users (id, email) values
  ('33333333-3333-4333-8333-333333333333', 'cleo@example.com');

create temporary table change_at (label text primary key, change jsonb) on commit drop;
grant select on change_at to anon, authenticated, service_role;
insert into change_at values
  ('active t1', jsonb_build_object(
    'customer_id', 'cus_cleo',
    'external_id', '33333333-3333-4333-8333-333333333333',
    'metadata_user_id', null,
    'customer_version', '2026-11-24T09:00:00Z',
    'customer_deleted', false,
    'subscription', jsonb_build_object(
      'id', 'sub_cleo', 'status', 'active', 'product_id', 'prod_pro',
      'current_period_end', '2026-12-24T10:00:00Z', 'cancel_at_period_end', false,
      'canceled_at', null, 'ended_at', null, 'version', '2026-11-24T10:00:00Z'))),
  ('canceling t2', jsonb_build_object(
    'customer_id', 'cus_cleo',
    'external_id', '33333333-3333-4333-8333-333333333333',
    'metadata_user_id', null,
    'customer_version', '2026-11-24T09:00:00Z',
    'customer_deleted', false,
    'subscription', jsonb_build_object(
      'id', 'sub_cleo', 'status', 'active', 'product_id', 'prod_pro',
      'current_period_end', '2026-12-24T10:00:00Z', 'cancel_at_period_end', true,
      'canceled_at', '2026-11-24T12:00:00Z', 'ended_at', null,
      'version', '2026-11-24T12:00:00Z'))),
  ('unknown user', jsonb_build_object(
    'customer_id', 'cus_ghost',
    'external_id', '44444444-4444-4444-8444-444444444444',
    'metadata_user_id', null,
    'customer_version', '2026-11-24T09:00:00Z',
    'customer_deleted', false,
    'subscription', null)),
  ('deleted t3', jsonb_build_object(
    'customer_id', 'cus_cleo',
    'external_id', '33333333-3333-4333-8333-333333333333',
    'metadata_user_id', null,
    'customer_version', '2026-11-24T13:00:00Z',
    'customer_deleted', true,
    'subscription', null));

-- ----- Schema -----------------------------------------------------------------------------
select has_schema('polar', 'schema polar exists');
select has_table('polar', 'webhook_deliveries', 'polar.webhook_deliveries exists');
select col_is_pk('polar', 'webhook_deliveries', 'webhook_id',
  'webhook_id is the primary key, so a redelivery cannot be recorded twice');
select is(
  (select relrowsecurity from pg_class where oid = 'polar.webhook_deliveries'::regclass),
  true, 'row level security is on for webhook_deliveries');
select is(
  (select count(*)::int from pg_policies where schemaname = 'polar'),
  0, 'webhook_deliveries has no policies');
select has_column('public', 'user_subscriptions', 'polar_customer_modified_at',
  'user_subscriptions has the customer''s own clock');
select has_column('public', 'user_subscriptions', 'ended_at',
  'user_subscriptions keeps when a subscription ended');
select has_function('public', 'apply_polar_webhook', array['text', 'text', 'timestamptz', 'jsonb'],
  'apply_polar_webhook(text, text, timestamptz, jsonb) exists');
select is_definer('public', 'apply_polar_webhook',
  array['text', 'text', 'timestamp with time zone', 'jsonb'],
  'apply_polar_webhook is security definer (it reads auth.users, writes schema polar)');
select is(
  (select proconfig from pg_proc where oid = 'public.apply_polar_webhook(text, text, timestamptz, jsonb)'::regprocedure),
  array['search_path=""'], 'apply_polar_webhook pins an empty search_path');

-- ----- Privileges -------------------------------------------------------------------------
select schema_privs_are('polar', 'anon', array[]::text[], 'anon has no privilege on schema polar');
select schema_privs_are('polar', 'authenticated', array[]::text[],
  'authenticated has no privilege on schema polar');
select table_privs_are('polar', 'webhook_deliveries', 'anon', array[]::text[],
  'anon has no privilege on webhook_deliveries');
select table_privs_are('polar', 'webhook_deliveries', 'authenticated', array[]::text[],
  'authenticated has no privilege on webhook_deliveries');
select table_privs_are('polar', 'webhook_deliveries', 'service_role', array[]::text[],
  'service_role reaches webhook_deliveries only through apply_polar_webhook');
select function_privs_are('public', 'apply_polar_webhook',
  array['text', 'text', 'timestamptz', 'jsonb'], 'anon', array[]::text[],
  'anon cannot execute apply_polar_webhook');
select function_privs_are('public', 'apply_polar_webhook',
  array['text', 'text', 'timestamptz', 'jsonb'], 'authenticated', array[]::text[],
  'authenticated cannot execute apply_polar_webhook');
select function_privs_are('public', 'apply_polar_webhook',
  array['text', 'text', 'timestamptz', 'jsonb'], 'service_role', array['EXECUTE'],
  'service_role can execute apply_polar_webhook');
select ok(
  not exists (
    select from pg_proc, aclexplode(proacl) as acl
    where pg_proc.oid = 'public.apply_polar_webhook(text, text, timestamptz, jsonb)'::regprocedure
      and acl.grantee = 0),
  'PUBLIC cannot execute apply_polar_webhook');

-- ----- anon -------------------------------------------------------------------------------
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok(
  $$select public.apply_polar_webhook('msg_anon', 'subscription.active', now(),
    (select change from change_at where label = 'active t1'))$$,
  '42501', 'permission denied for function apply_polar_webhook',
  'anon cannot apply an event');
select throws_ok(
  'select * from polar.webhook_deliveries',
  '42501', 'permission denied for schema polar',
  'anon cannot see deliveries');

-- ----- authenticated ----------------------------------------------------------------------
reset role;
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"33333333-3333-4333-8333-333333333333","role":"authenticated"}', true);
select throws_ok(
  $$select public.apply_polar_webhook('msg_self', 'subscription.active', now(),
    (select change from change_at where label = 'active t1'))$$,
  '42501', 'permission denied for function apply_polar_webhook',
  'a signed-in user cannot apply an event to their own row');
select throws_ok(
  'select * from polar.webhook_deliveries',
  '42501', 'permission denied for schema polar',
  'a signed-in user cannot see deliveries');

-- ----- service_role -----------------------------------------------------------------------
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);

select is(
  public.apply_polar_webhook('msg_1', 'subscription.active', '2026-11-24T10:00:01Z',
    (select change from change_at where label = 'active t1')),
  '{"outcome": "applied"}'::jsonb,
  'service_role applies a subscription event for a user found by external_id');
select results_eq(
  $$select polar_customer_id, polar_subscription_id, status, cancel_at_period_end, polar_modified_at
    from public.user_subscriptions where user_id = '33333333-3333-4333-8333-333333333333'$$,
  $$values ('cus_cleo'::text, 'sub_cleo'::text, 'active'::text, false, '2026-11-24T10:00:00Z'::timestamptz)$$,
  'the event created the user''s row with the subscription''s state');

select is(
  public.apply_polar_webhook('msg_2', 'subscription.canceled', '2026-11-24T12:00:01Z',
    (select change from change_at where label = 'canceling t2')),
  '{"outcome": "applied"}'::jsonb,
  'a newer version applies');
select is(
  public.apply_polar_webhook('msg_2', 'subscription.canceled', '2026-11-24T12:00:01Z',
    (select change from change_at where label = 'active t1')),
  '{"outcome": "duplicate"}'::jsonb,
  'a redelivery of a webhook-id answers duplicate, whatever it carries');
select is(
  public.apply_polar_webhook('msg_3', 'subscription.updated', '2026-11-24T12:30:00Z',
    (select change from change_at where label = 'active t1')),
  '{"outcome": "stale"}'::jsonb,
  'an older version arriving late is stale');
select results_eq(
  $$select cancel_at_period_end, canceled_at, polar_modified_at
    from public.user_subscriptions where user_id = '33333333-3333-4333-8333-333333333333'$$,
  $$values (true, '2026-11-24T12:00:00Z'::timestamptz, '2026-11-24T12:00:00Z'::timestamptz)$$,
  'neither the duplicate nor the stale event changed the row');

select is(
  public.apply_polar_webhook('msg_4', 'order.paid', '2026-11-24T12:31:00Z'),
  '{"outcome": "ignored"}'::jsonb,
  'an event type without a change is recorded as ignored');
select is(
  public.apply_polar_webhook('msg_5', 'customer.created', '2026-11-24T12:32:00Z',
    (select change from change_at where label = 'unknown user')),
  '{"outcome": "skipped", "reason": "no user matches external_id"}'::jsonb,
  'a customer whose external_id is no user is skipped with the reason');

select is(
  public.apply_polar_webhook('msg_6', 'customer.deleted', '2026-11-24T13:00:01Z',
    (select change from change_at where label = 'deleted t3')),
  '{"outcome": "applied"}'::jsonb,
  'customer.deleted applies');
select results_eq(
  $$select polar_customer_id, polar_subscription_id, cancel_at_period_end
    from public.user_subscriptions where user_id = '33333333-3333-4333-8333-333333333333'$$,
  $$values (null::text, 'sub_cleo'::text, true)$$,
  'a deleted customer clears polar_customer_id and keeps the subscription''s state');
select is(
  public.apply_polar_webhook('msg_7', 'customer.updated', '2026-11-24T13:30:00Z',
    (select change from change_at where label = 'active t1') - 'subscription'),
  '{"outcome": "stale"}'::jsonb,
  'customer data older than its deletion does not bring the link back');

select throws_ok(
  $$select public.apply_polar_webhook(null, 'subscription.active', now(), null)$$,
  '22004', 'webhook_id, event_type and event_timestamp are required',
  'a delivery without webhook_id is refused');
select throws_ok(
  $$select public.apply_polar_webhook('msg_bad', 'subscription.active', now(), '{"customer_id":"cus_x"}')$$,
  '22023', 'change is missing required fields',
  'a change without its required fields is refused');
select throws_ok(
  'select * from polar.webhook_deliveries',
  '42501', 'permission denied for schema polar',
  'service_role cannot read deliveries directly either');

-- ----- Owner: what was recorded -----------------------------------------------------------
reset role;
select results_eq(
  $$select webhook_id, event_type, outcome, reason, user_id
    from polar.webhook_deliveries order by webhook_id$$,
  $$values
    ('msg_1'::text, 'subscription.active'::text, 'applied'::text, null::text,
      '33333333-3333-4333-8333-333333333333'::uuid),
    ('msg_2', 'subscription.canceled', 'applied', null, '33333333-3333-4333-8333-333333333333'),
    ('msg_3', 'subscription.updated', 'stale', null, '33333333-3333-4333-8333-333333333333'),
    ('msg_4', 'order.paid', 'ignored', null, null),
    ('msg_5', 'customer.created', 'skipped', 'no user matches external_id', null),
    ('msg_6', 'customer.deleted', 'applied', null, '33333333-3333-4333-8333-333333333333'),
    ('msg_7', 'customer.updated', 'stale', null, '33333333-3333-4333-8333-333333333333')$$,
  'every delivery is recorded once, with its outcome, and nothing for refused calls');
select is(
  (select subscription_id from polar.webhook_deliveries where webhook_id = 'msg_2'),
  'sub_cleo', 'a delivery records the subscription it was about');
select throws_ok(
  $$insert into polar.webhook_deliveries (webhook_id, event_type, event_timestamp, outcome)
    values ('msg_1', 'subscription.active', now(), 'applied')$$,
  '23505', 'duplicate key value violates unique constraint "webhook_deliveries_pkey"',
  'the primary key refuses a second row for one webhook-id');
select throws_ok(
  $$insert into polar.webhook_deliveries (webhook_id, event_type, event_timestamp, outcome)
    values ('msg_x', 'subscription.active', now(), 'maybe')$$,
  '23514', 'new row for relation "webhook_deliveries" violates check constraint "webhook_deliveries_outcome_check"',
  'an outcome outside the documented ones is refused');

select * from finish();
rollback;
