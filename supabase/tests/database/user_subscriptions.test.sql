-- =====================================================================================
-- user_subscriptions: schema, privileges and row level security.
-- One section per role: owner (the user whose row it is), another user, anon, service role.
-- =====================================================================================
begin;
select plan(22);

-- ----- Fixtures: two users, one with a linked Polar customer ---------------------------
insert into auth.users (id, email) values
  ('11111111-1111-4111-8111-111111111111', 'ada@example.com'),
  ('22222222-2222-4222-8222-222222222222', 'bob@example.com');
insert into public.user_subscriptions (user_id, polar_customer_id, status)
  values ('11111111-1111-4111-8111-111111111111', 'cus_ada', 'active');

-- ----- Schema ---------------------------------------------------------------------------
select has_table('public', 'user_subscriptions', 'user_subscriptions exists');
select col_is_pk('public', 'user_subscriptions', 'user_id', 'user_id is the primary key');
select fk_ok('public', 'user_subscriptions', 'user_id', 'auth', 'users', 'id',
  'user_id references auth.users(id)');
select col_is_unique('public', 'user_subscriptions', 'polar_customer_id',
  'polar_customer_id is unique');
select is(
  (select relrowsecurity from pg_class where oid = 'public.user_subscriptions'::regclass),
  true, 'row level security is on');
select policies_are('public', 'user_subscriptions',
  array['Users can read their own subscription'], 'the only policy is the select-own one');

-- ----- Privileges: what Supabase grants by default is revoked ---------------------------
select table_privs_are('public', 'user_subscriptions', 'anon', array[]::text[],
  'anon has no privilege at all');
select table_privs_are('public', 'user_subscriptions', 'authenticated', array['SELECT'],
  'authenticated may only select');
select ok(
  has_table_privilege('service_role', 'public.user_subscriptions', 'select, insert, update, delete'),
  'service_role may read and write');

-- ----- Owner: sees their own row, cannot write ------------------------------------------
set local role authenticated;
select set_config('request.jwt.claims',
  '{"sub":"11111111-1111-4111-8111-111111111111","role":"authenticated"}', true);
select results_eq(
  'select polar_customer_id from public.user_subscriptions',
  $$values ('cus_ada'::text)$$,
  'the owner sees exactly their own row');
select throws_ok(
  $$update public.user_subscriptions set status = 'canceled'$$,
  '42501', 'permission denied for table user_subscriptions',
  'the owner cannot update their row');
select throws_ok(
  $$insert into public.user_subscriptions (user_id) values ('11111111-1111-4111-8111-111111111111')$$,
  '42501', 'permission denied for table user_subscriptions',
  'the owner cannot insert');
select throws_ok(
  $$delete from public.user_subscriptions$$,
  '42501', 'permission denied for table user_subscriptions',
  'the owner cannot delete');

-- ----- Another user: sees nothing -------------------------------------------------------
select set_config('request.jwt.claims',
  '{"sub":"22222222-2222-4222-8222-222222222222","role":"authenticated"}', true);
select is_empty('select * from public.user_subscriptions', 'another user sees no row');
select throws_ok(
  $$insert into public.user_subscriptions (user_id, polar_customer_id)
    values ('22222222-2222-4222-8222-222222222222', 'cus_stolen')$$,
  '42501', 'permission denied for table user_subscriptions',
  'another user cannot insert a row for themselves');

-- An empty claims setting (what a finished transaction leaves behind) means no user.
select set_config('request.jwt.claims', '', true);
select is(auth.uid(), null, 'auth.uid() is null when request.jwt.claims is empty');
select is_empty('select * from public.user_subscriptions', 'no claims sees no row');

-- ----- anon: sees and writes nothing ----------------------------------------------------
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok(
  'select * from public.user_subscriptions',
  '42501', 'permission denied for table user_subscriptions',
  'anon cannot read the table');
select throws_ok(
  $$insert into public.user_subscriptions (user_id) values ('22222222-2222-4222-8222-222222222222')$$,
  '42501', 'permission denied for table user_subscriptions',
  'anon cannot insert');

-- ----- service_role: reads and writes everything ----------------------------------------
reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);
select lives_ok(
  $$insert into public.user_subscriptions (user_id, polar_customer_id, status)
    values ('22222222-2222-4222-8222-222222222222', 'cus_bob', 'active')$$,
  'service_role can insert');
select lives_ok(
  $$update public.user_subscriptions set cancel_at_period_end = true
    where user_id = '11111111-1111-4111-8111-111111111111'$$,
  'service_role can update');
select results_eq(
  'select count(*)::int from public.user_subscriptions',
  array[2],
  'service_role sees every row');

select * from finish();
rollback;
