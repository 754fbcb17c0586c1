-- =====================================================================================
-- catalog (issue 20, point 2) and checkout_guard (point 1): public.polar_products per role
-- (anon and signed-in users read what is on sale, only the service role writes, through
-- the functions), product and benefit webhooks by their clocks, the reconcile's pull, and
-- polar_checkout_guard.
-- =====================================================================================
begin;
select plan(31);

-- ----- Fixtures -------------------------------------------------------------------------------
insert into auth.users (id, email) values
  ('c3333333-3333-4333-8333-333333333333', 'jo@example.com'),
  ('d4444444-4444-4444-8444-444444444444', 'kim@example.com');
insert into public.user_subscriptions
  (user_id, polar_customer_id, polar_customer_verified, polar_state_at) values
  ('c3333333-3333-4333-8333-333333333333', 'cus_jo', true, '2026-11-01T00:00:00Z'),
  ('d4444444-4444-4444-8444-444444444444', 'cus_kim', true, '2026-11-01T00:00:00Z');

create function pg_temp.benefit(id text, key text, version text, deleted boolean default false)
returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'type', 'feature_flag', 'description', 'Benefit ' || id,
    'metadata', jsonb_build_object('key', key), 'version', version, 'deleted', deleted);
$$;
create function pg_temp.product(id text, name text, version text, recurring boolean,
  benefits jsonb default '[]', archived boolean default false) returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'name', name, 'description', null,
    'is_recurring', recurring, 'recurring_interval', case when recurring then 'month' end,
    'recurring_interval_count', case when recurring then 1 end,
    'prices', jsonb_build_array(jsonb_build_object('amount_type', 'fixed', 'price_amount', 1000,
      'price_currency', 'usd')),
    'benefits', benefits, 'metadata', '{}'::jsonb, 'visibility', 'public',
    'is_archived', archived, 'version', version);
$$;
create function pg_temp.hook(id text, type text, catalog jsonb) returns text language sql as $$
  select public.apply_polar_catalog_webhook(id, type, now(), catalog) ->> 'outcome';
$$;

-- ----- Schema and privileges ---------------------------------------------------------------
select has_table('public', 'polar_products', 'polar_products exists');
select col_is_pk('public', 'polar_products', 'id', 'one row per Polar product');
select ok((select relrowsecurity from pg_class where oid = 'public.polar_products'::regclass),
  'row level security is on');
select ok(not has_table_privilege('anon', 'public.polar_products', 'insert')
  and not has_table_privilege('anon', 'public.polar_products', 'update')
  and not has_table_privilege('anon', 'public.polar_products', 'delete')
  and not has_table_privilege('authenticated', 'public.polar_products', 'insert')
  and not has_table_privilege('authenticated', 'public.polar_products', 'update')
  and not has_table_privilege('authenticated', 'public.polar_products', 'delete'),
  'anon and signed-in users may not write the catalog');
select ok(not has_table_privilege('service_role', 'public.polar_products', 'insert'),
  'the service role writes only through the functions');
select ok(not has_function_privilege('anon',
  'public.apply_polar_catalog_webhook(text, text, timestamptz, jsonb)', 'execute')
  and not has_function_privilege('authenticated',
    'public.apply_polar_catalog_webhook(text, text, timestamptz, jsonb)', 'execute')
  and not has_function_privilege('authenticated', 'public.store_polar_products(jsonb)', 'execute')
  and not has_function_privilege('authenticated', 'public.polar_checkout_guard(uuid, text[])',
    'execute'),
  'no API role but the service role may write the catalog or ask the guard');
select ok(has_function_privilege('service_role',
  'public.apply_polar_catalog_webhook(text, text, timestamptz, jsonb)', 'execute')
  and has_function_privilege('service_role', 'public.store_polar_products(jsonb)', 'execute')
  and has_function_privilege('service_role', 'public.polar_checkout_guard(uuid, text[])',
    'execute'), 'the service role may call all three');

-- ----- service_role: webhooks and the pull ---------------------------------------------------
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select is(pg_temp.hook('p1', 'product.created', jsonb_build_object('product',
  pg_temp.product('prod_pro', 'Pro', '2026-11-01T00:00:00Z', true,
    jsonb_build_array(pg_temp.benefit('ben_pro', 'pro', '2026-10-01T00:00:00Z'))))),
  'applied', 'product.created applies');
select is(pg_temp.hook('p1', 'product.created', jsonb_build_object('product',
  pg_temp.product('prod_pro', 'Other', '2026-11-09T00:00:00Z', true))),
  'duplicate', 'a redelivery is a duplicate, whatever it carries');
select results_eq($$select name, is_recurring, recurring_interval, benefit_ids, benefit_keys
    from public.polar_products where id = 'prod_pro'$$,
  $$values ('Pro'::text, true, 'month'::text, array['ben_pro'], array['pro'])$$,
  'the product is stored with its interval, benefits and their keys');
select is(pg_temp.hook('p3', 'product.updated', jsonb_build_object('product',
  pg_temp.product('prod_pro', 'Pro monthly', '2026-11-03T00:00:00Z', true,
    jsonb_build_array(pg_temp.benefit('ben_pro', 'pro', '2026-10-01T00:00:00Z'))))),
  'applied', 'a newer product.updated applies');
select is(pg_temp.hook('p2', 'product.updated', jsonb_build_object('product',
  pg_temp.product('prod_pro', 'Pro (old)', '2026-11-02T00:00:00Z', true))),
  'stale', 'an older product.updated, arriving late, is stale');
select is((select name from public.polar_products where id = 'prod_pro'), 'Pro monthly',
  'the newer name stays');
select is(pg_temp.hook('p3b', 'product.updated', jsonb_build_object('product',
  pg_temp.product('prod_pro', 'Pro again', '2026-11-03T00:00:00Z', true))),
  'stale', 'a product exactly as old as the stored one is stale');
select is(pg_temp.hook('b1', 'benefit.updated', jsonb_build_object('benefit',
  pg_temp.benefit('ben_pro', 'pro-plus', '2026-11-04T00:00:00Z'))),
  'applied', 'benefit.updated applies');
select is((select benefit_keys from public.polar_products where id = 'prod_pro'),
  array['pro-plus'], 'a benefit''s new key reaches the products that grant it');
select is(pg_temp.hook('b0', 'benefit.updated', jsonb_build_object('benefit',
  pg_temp.benefit('ben_pro', 'pro', '2026-11-04T00:00:00Z'))),
  'stale', 'a benefit exactly as old as the stored one is stale');
select is(pg_temp.hook('b2', 'benefit.deleted', jsonb_build_object('benefit',
  pg_temp.benefit('ben_pro', 'pro-plus', '2026-11-05T00:00:00Z', true))),
  'applied', 'benefit.deleted applies');
select is((select benefit_keys from public.polar_products where id = 'prod_pro'),
  '{}'::text[], 'a deleted benefit''s key leaves the products');
select is(public.store_polar_products(jsonb_build_array(
    pg_temp.product('prod_pro', 'Pro monthly', '2026-11-03T00:00:00Z', true),
    pg_temp.product('prod_pack', 'Credit pack', '2026-11-01T00:00:00Z', false),
    pg_temp.product('prod_old', 'Legacy', '2026-11-01T00:00:00Z', true, '[]', true))),
  '{"stored": 2, "unchanged": 1}'::jsonb,
  'the pull stores new products and leaves the unchanged one');
select is(public.polar_checkout_guard('c3333333-3333-4333-8333-333333333333',
    array['prod_pro', 'prod_pack', 'prod_unknown']),
  '{"live_subscription_id": null, "recurring": ["prod_pro"], "one_time": ["prod_pack"]}'::jsonb,
  'the guard: no live subscription; the catalog knows which products recur');
insert into public.polar_subscriptions
  (id, user_id, polar_customer_id, product_id, status, in_latest_state, polar_modified_at)
values
  ('sub_jo', 'c3333333-3333-4333-8333-333333333333', 'cus_jo', 'prod_pro', 'past_due', false,
    '2026-10-01T00:00:00Z'),
  ('sub_kim', 'd4444444-4444-4444-8444-444444444444', 'cus_kim', 'prod_pro', 'active', false,
    '2026-11-01T00:00:00Z');
select is(public.polar_checkout_guard('c3333333-3333-4333-8333-333333333333', '{}')
    ->> 'live_subscription_id', 'sub_jo', 'a past_due subscription is live (Polar bills it)');
select is(public.polar_checkout_guard('d4444444-4444-4444-8444-444444444444', '{}')
    ->> 'live_subscription_id', null,
  'an active one exactly as old as a snapshot that left it out is not live');
update public.polar_subscriptions set polar_modified_at = '2026-11-01T00:00:00.000001Z'
where id = 'sub_kim';
select is(public.polar_checkout_guard('d4444444-4444-4444-8444-444444444444', '{}')
    ->> 'live_subscription_id', 'sub_kim', 'and 1 µs newer than the snapshot it is live');
update public.polar_subscriptions set ended_at = now() where id = 'sub_jo';
select is(public.polar_checkout_guard('c3333333-3333-4333-8333-333333333333', '{}')
    ->> 'live_subscription_id', null, 'an ended subscription is not live');
select is((select count(*)::int from public.polar_products), 3,
  'the service role reads every product, archived included');

-- ----- anon and signed-in users: the products on sale -------------------------------------------
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select is((select array_agg(id order by id) from public.polar_products),
  array['prod_pack', 'prod_pro'], 'anon reads the products on sale, not the archived one');
select throws_ok($$insert into public.polar_products (id, name, is_recurring, polar_modified_at)
    values ('x', 'x', false, now())$$, '42501', 'permission denied for table polar_products',
  'anon may not add a product');
select throws_ok($$select public.polar_checkout_guard('c3333333-3333-4333-8333-333333333333', '{}')$$,
  '42501', 'permission denied for function polar_checkout_guard', 'anon may not ask the guard');
reset role;
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"c3333333-3333-4333-8333-333333333333","role":"authenticated"}', true);
select is((select array_agg(id order by id) from public.polar_products),
  array['prod_pack', 'prod_pro'], 'a signed-in user reads the same price list');
select throws_ok($$update public.polar_products set name = 'Free' where id = 'prod_pro'$$, '42501',
  'permission denied for table polar_products', 'a signed-in user may not change a price list entry');

select * from finish();
rollback;
