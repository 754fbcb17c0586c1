-- =====================================================================================
-- usage (issue 18): store_polar_meters, consume_usage, record_usage, usage_balance and
-- polar_usage_events, one section per role, every bad input, both sides of the balance
-- boundary, two users, and the balance's parts (Polar's reading, what was delivered in the
-- meter period, what is pending).
-- Users: Ada (verified link, 10 credits on "ai", a subscription whose meter period started
-- 2026-11-15), Bob (verified link, 3 credits, no subscription), Cy (an unverified link with
-- 100 credits), Dee (no customer, no meter).
-- Meters: "ai" sums metadata "tokens" of events named ai.completion; "calls" counts events
-- named api.call; the rest are unsupported, each for its own reason.
-- =====================================================================================
begin;
select plan(94);

-- ----- Fixtures -------------------------------------------------------------------------------
insert into auth.users (id, email) values
  ('a0000000-0000-4000-8000-00000000000a', 'ada@example.com'),
  ('b0000000-0000-4000-8000-00000000000b', 'bob@example.com'),
  ('c0000000-0000-4000-8000-00000000000c', 'cy@example.com'),
  ('d0000000-0000-4000-8000-00000000000d', 'dee@example.com');
insert into public.user_subscriptions (user_id, polar_customer_id, polar_customer_verified) values
  ('a0000000-0000-4000-8000-00000000000a', 'cus_ada', true),
  ('b0000000-0000-4000-8000-00000000000b', 'cus_bob', true),
  ('c0000000-0000-4000-8000-00000000000c', 'cus_cy', false);
insert into public.polar_subscriptions (id, user_id, polar_customer_id, product_id, status,
  current_period_start, current_meter_period_start, polar_modified_at) values
  ('sub_ada', 'a0000000-0000-4000-8000-00000000000a', 'cus_ada', 'prod_pro', 'active',
    '2026-11-01T00:00:00Z', '2026-11-15T00:00:00Z', '2026-11-15T00:00:00Z');
insert into public.polar_meters (user_id, meter_id, consumed_units, credited_units, balance) values
  ('a0000000-0000-4000-8000-00000000000a', 'meter_ai', 0, 10, 10),
  ('b0000000-0000-4000-8000-00000000000b', 'meter_ai', 0, 3, 3),
  ('c0000000-0000-4000-8000-00000000000c', 'meter_ai', 0, 100, 100);

-- A Polar Meter object as GET /v1/meters/ gives it.
create function pg_temp.meter(id text, name text, filter jsonb, aggregation jsonb,
  archived_at text default null) returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'name', name, 'filter', filter,
    'aggregation', aggregation, 'archived_at', archived_at, 'metadata', '{}'::jsonb,
    'unit', 'scalar', 'organization_id', 'org_1', 'created_at', '2026-11-01T00:00:00Z',
    'modified_at', null);
$$;

-- The filter "name eq <event>".
create function pg_temp.named(event text) returns jsonb language sql as $$
  select jsonb_build_object('conjunction', 'and', 'clauses', jsonb_build_array(
    jsonb_build_object('property', 'name', 'operator', 'eq', 'value', event)));
$$;

create function pg_temp.as_user(id uuid) returns void language sql as $$
  select set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', jsonb_build_object('sub', id, 'role', 'authenticated')::text,
      true);
$$;

-- A user's balance by the migration's formula, read as the owner (polar is not the API's).
create function pg_temp.balance(user_id uuid, meter_id text) returns numeric
language sql security definer as $$
  select polar.usage_balance_of(user_id, meter_id);
$$;

create function pg_temp.as_service() returns void language sql as $$
  select set_config('role', 'service_role', true),
    set_config('request.jwt.claims', '{"role":"service_role"}', true);
$$;

-- ----- service_role: meter definitions ---------------------------------------------------------
select pg_temp.as_service();
select is(
  public.store_polar_meters(jsonb_build_array(
    pg_temp.meter('meter_ai', 'ai', pg_temp.named('ai.completion'),
      '{"func": "sum", "property": "tokens"}'),
    pg_temp.meter('meter_calls', 'calls', pg_temp.named('api.call'), '{"func": "count"}'),
    pg_temp.meter('meter_max', 'peak', pg_temp.named('peak'), '{"func": "max", "property": "t"}'),
    pg_temp.meter('meter_unique', 'seats', pg_temp.named('seat'), '{"property": "user"}'),
    pg_temp.meter('meter_nested', 'nested', pg_temp.named('n'),
      '{"func": "sum", "property": "usage.tokens"}'),
    pg_temp.meter('meter_two', 'two', jsonb_build_object('conjunction', 'and', 'clauses',
      jsonb_build_array(pg_temp.named('a') -> 'clauses' -> 0,
        jsonb_build_object('property', 'model', 'operator', 'eq', 'value', 'x'))),
      '{"func": "count"}'),
    pg_temp.meter('meter_like', 'like', jsonb_build_object('conjunction', 'and', 'clauses',
      jsonb_build_array(jsonb_build_object('property', 'name', 'operator', 'like',
        'value', 'ai.%'))), '{"func": "count"}'),
    pg_temp.meter('meter_old', 'old', pg_temp.named('old'), '{"func": "count"}',
      '2026-11-20T00:00:00Z'),
    pg_temp.meter('meter_dup_1', 'dup', pg_temp.named('d1'), '{"func": "count"}'),
    pg_temp.meter('meter_dup_2', 'dup', pg_temp.named('d2'), '{"func": "count"}'))),
  '{"meters": 10, "unsupported": [
    {"name": "dup", "reason": "more than one meter is named \"dup\""},
    {"name": "dup", "reason": "more than one meter is named \"dup\""},
    {"name": "like", "reason": "its filter is not one clause \"name eq <event name>\""},
    {"name": "nested", "reason": "it sums no top-level metadata property"},
    {"name": "old", "reason": "the meter is archived in Polar"},
    {"name": "peak", "reason": "its aggregation is max (only count, or sum of one property)"},
    {"name": "seats", "reason": "its aggregation is unique (only count, or sum of one property)"},
    {"name": "two", "reason": "its filter is not one clause \"name eq <event name>\""}]}'::jsonb,
  'store_polar_meters stores Polar''s meters and names each unsupported one with its reason');
select throws_ok($$select public.store_polar_meters('{"id": "m"}')$$, '22023',
  'meters must be a JSON array of Polar Meter objects', 'a meters object is refused');
select throws_ok($$select public.store_polar_meters('[{"name": "x"}]')$$, '22023',
  'every meter needs a string id and name', 'a meter without id is refused');
select throws_ok(
  $$select public.consume_usage('ai', 1, 'svc-no-user')$$, '22023', 'user_id is required',
  'service_role must name user_id');
select throws_ok(
  $$select public.consume_usage('ai', 1, 'svc-ghost', '{}',
    'eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee')$$,
  '22023', 'no such user: eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee', 'nor a user that does not exist');

-- ----- Owner: Ada spends her own credits, on both sides of the boundary ------------------------
reset role;
select pg_temp.as_user('a0000000-0000-4000-8000-00000000000a');
select is(public.usage_balance('ai'), 10::numeric, 'Ada''s balance is Polar''s credit of 10');
select is(public.consume_usage('ai', 11, 'ada-11', '{"model": "small"}'),
  '{"allowed": false, "balance": 10, "duplicate": false}'::jsonb,
  'one unit more than her balance is refused');
select is((select count(*) from public.polar_usage_events), 0::bigint,
  'and the refused call recorded nothing');
select is(public.consume_usage('ai', 10, 'ada-10', '{"model": "small", "cached": false}'),
  '{"allowed": true, "balance": 0, "duplicate": false}'::jsonb,
  'units that her balance exactly covers are admitted, leaving 0');
select is(public.usage_balance('ai'), 0::numeric, 'her balance is now 0');
select is(public.consume_usage('ai', 1, 'ada-1'),
  '{"allowed": false, "balance": 0, "duplicate": false}'::jsonb, 'at 0, one unit is refused');
select is(public.consume_usage('ai', 11, 'ada-11'),
  '{"allowed": false, "balance": 0, "duplicate": false}'::jsonb,
  'a refused key is not remembered: trying it again is decided again');
select is(public.consume_usage('ai', 10, 'ada-10', '{"model": "small", "cached": false}'),
  '{"allowed": true, "balance": 0, "duplicate": true}'::jsonb,
  'the admitted key again answers allowed and duplicate');
select is((select count(*) from public.polar_usage_events), 1::bigint,
  'and records nothing more');
select throws_ok($$select public.consume_usage('ai', 9, 'ada-10')$$, '22023',
  'idempotency_key "ada-10" was already used with meter "ai" and 10 units',
  'the same key with other units is an error, not a second spend');
select throws_ok($$select public.consume_usage('calls', 10, 'ada-10')$$, '22023',
  'idempotency_key "ada-10" was already used with meter "ai" and 10 units',
  'so is the same key with another meter');
select results_eq(
  $$select user_id, meter, units, metadata, limited, delivered_at is null, polar_refusal
    from public.polar_usage_events$$,
  $$values ('a0000000-0000-4000-8000-00000000000a'::uuid, 'ai'::text, 10::numeric,
    '{"model": "small", "cached": false}'::jsonb, true, true, null::text)$$,
  'Ada reads her recorded use: meter, units, metadata, not yet delivered');
select is(
  public.record_usage('calls', 2, 'ada-calls', '{}', 'a0000000-0000-4000-8000-00000000000a'),
  '{"allowed": true, "balance": -2, "duplicate": false}'::jsonb,
  'record_usage, naming her own id, records without a limit');
select throws_ok(
  $$select public.consume_usage('ai', 1, 'ada-for-bob', '{}',
    'b0000000-0000-4000-8000-00000000000b')$$,
  '42501', 'a user may spend and record only their own usage', 'Ada cannot spend Bob''s credits');
select throws_ok(
  $$select public.record_usage('calls', 1, 'ada-for-bob', '{}',
    'b0000000-0000-4000-8000-00000000000b')$$,
  '42501', 'a user may spend and record only their own usage', 'nor record usage for Bob');
select throws_ok(
  $$insert into public.polar_usage_events (user_id, meter_id, meter, event_name, units,
    idempotency_key, external_id, limited)
    values ('a0000000-0000-4000-8000-00000000000a', 'meter_ai', 'ai', 'ai.completion', 1, 'x',
      'x', false)$$,
  '42501', 'permission denied for table polar_usage_events', 'Ada cannot insert usage herself');
select throws_ok($$update public.polar_usage_events set units = 1$$, '42501',
  'permission denied for table polar_usage_events', 'nor change her recorded usage');
select throws_ok($$select public.store_polar_meters('[]')$$, '42501',
  'permission denied for function store_polar_meters', 'nor store meter definitions');
select throws_ok($$select * from polar.usage_meters$$, '42501',
  'permission denied for schema polar', 'nor read them');
select is(public.usage_balance('nope'), 0::numeric, 'an unknown meter''s balance is 0');
select is(public.usage_balance('peak'), 0::numeric, 'so is an unsupported meter''s');

-- ----- Other user: Bob ----------------------------------------------------------------------
reset role;
select pg_temp.as_user('b0000000-0000-4000-8000-00000000000b');
select is((select count(*) from public.polar_usage_events), 0::bigint,
  'Bob reads none of Ada''s usage');
select is(public.usage_balance('ai'), 3::numeric, 'Bob''s balance is his own 3, whatever Ada spent');
select is(public.consume_usage('ai', 3, 'ada-10'),
  '{"allowed": true, "balance": 0, "duplicate": false}'::jsonb,
  'Ada''s idempotency key is Bob''s to use: keys are per user');
select is(public.consume_usage('ai', 1, 'bob-1'),
  '{"allowed": false, "balance": 0, "duplicate": false}'::jsonb,
  'and his balance, not hers, stops him at 0');
select throws_ok(
  $$select public.consume_usage('ai', 1, 'bob-for-ada', '{}',
    'a0000000-0000-4000-8000-00000000000a')$$,
  '42501', 'a user may spend and record only their own usage', 'Bob cannot spend Ada''s');
select results_eq($$select user_id, units from public.polar_usage_events$$,
  $$values ('b0000000-0000-4000-8000-00000000000b'::uuid, 3::numeric)$$,
  'Bob reads his own use only');

-- ----- Cy: an unverified link's credits do not count ---------------------------------------------
reset role;
select pg_temp.as_user('c0000000-0000-4000-8000-00000000000c');
select is(public.usage_balance('ai'), 0::numeric,
  'Cy''s 100 credits through an unverified link count for nothing');
select is(public.consume_usage('ai', 1, 'cy-1'),
  '{"allowed": false, "balance": 0, "duplicate": false}'::jsonb, 'so his spend is refused');

-- ----- Dee: every bad input, each on both sides where it has a boundary -----------------------
reset role;
select pg_temp.as_user('d0000000-0000-4000-8000-00000000000d');
select throws_ok($$select public.consume_usage('ai', 'NaN', 'dee')$$, '22023',
  'units must be a finite number greater than 0, not NaN', 'NaN units are refused');
select throws_ok($$select public.consume_usage('ai', 'Infinity', 'dee')$$, '22023',
  'units must be a finite number greater than 0, not Infinity', 'so is Infinity');
select throws_ok($$select public.consume_usage('ai', '-Infinity', 'dee')$$, '22023',
  'units must be a finite number greater than 0, not -Infinity', 'and -Infinity');
select throws_ok($$select public.consume_usage('ai', 0, 'dee')$$, '22023',
  'units must be a finite number greater than 0, not 0', 'and 0');
select throws_ok($$select public.consume_usage('ai', -1, 'dee')$$, '22023',
  'units must be a finite number greater than 0, not -1', 'and a negative number');
select throws_ok($$select public.consume_usage('ai', null, 'dee')$$, '22023',
  'units must be a finite number greater than 0, not null', 'and no units');
select throws_ok($$select public.record_usage('ai', 1000000000000.5, 'dee')$$, '22023',
  'units must be at most 1000000000000, not 1000000000000.5', 'and more than 10^12');
select is(public.record_usage('ai', 1000000000000, 'dee-max'),
  '{"allowed": true, "balance": -1000000000000, "duplicate": false}'::jsonb,
  'while exactly 10^12 is recorded');
select is(public.record_usage('ai', 0.5, 'dee-half'),
  '{"allowed": true, "balance": -1000000000000.5, "duplicate": false}'::jsonb,
  'a sum meter takes fractional units');
select throws_ok($$select public.record_usage('calls', 1.5, 'dee')$$, '22023',
  'units must be a whole number for count meter "calls", not 1.5',
  'a count meter refuses a fractional unit');
select is(public.record_usage('calls', 2.0, 'dee-two'),
  '{"allowed": true, "balance": -2.0, "duplicate": false}'::jsonb,
  'and takes 2.0, a whole number');
select throws_ok($$select public.record_usage('calls', 1001, 'dee-many')$$, '22023',
  'units must be at most 1000 for count meter "calls" (one event each), not 1001',
  'a count meter takes at most 1,000 units a call (one flush batch)');
select throws_ok($$select public.consume_usage('nope', 1, 'dee')$$, '22023',
  'unknown meter "nope"', 'an unknown meter is refused by name');
select throws_ok($$select public.consume_usage(null, 1, 'dee')$$, '22023',
  'unknown meter "<NULL>"', 'so is no meter');
select throws_ok($$select public.consume_usage('peak', 1, 'dee')$$, '22023',
  'meter "peak" is not supported: its aggregation is max (only count, or sum of one property)',
  'an unsupported meter is refused with its reason');
select throws_ok($$select public.record_usage('two', 1, 'dee')$$, '22023',
  'meter "two" is not supported: its filter is not one clause "name eq <event name>"',
  'by record_usage too');
select throws_ok($$select public.consume_usage('old', 1, 'dee')$$, '22023',
  'meter "old" is not supported: the meter is archived in Polar', 'an archived meter is refused');
select throws_ok($$select public.consume_usage('dup', 1, 'dee')$$, '22023',
  'meter "dup" is not supported: more than one meter is named "dup"',
  'and a name two meters share');
select throws_ok($$select public.consume_usage('ai', 1, '')$$, '22023',
  'idempotency_key must not be empty', 'an empty key is refused');
select throws_ok($$select public.consume_usage('ai', 1, null)$$, '22023',
  'idempotency_key must not be empty', 'so is no key');
select throws_ok(
  format('select public.consume_usage(%L, 1, %L)', 'ai', repeat('k', 201)), '22023',
  'idempotency_key must be at most 200 characters, not 201', 'and one of 201 characters');
select is((public.record_usage('calls', 1, repeat('é', 200)) ->> 'allowed')::boolean, true,
  'while a key of 200 characters (400 bytes) is taken');
select throws_ok($$select public.consume_usage('ai', 1, 'dee', '[1]')$$, '22023',
  'metadata must be a JSON object, not array', 'metadata as an array is refused');
select throws_ok($$select public.consume_usage('ai', 1, 'dee', '"x"')$$, '22023',
  'metadata must be a JSON object, not string', 'as a string too');
select throws_ok($$select public.consume_usage('ai', 1, 'dee', '{"a": {"b": 1}}')$$, '22023',
  'metadata values must be strings, numbers or booleans: "a" is object',
  'a nested object value is refused');
select throws_ok($$select public.consume_usage('ai', 1, 'dee', '{"a": [1]}')$$, '22023',
  'metadata values must be strings, numbers or booleans: "a" is array', 'an array value too');
select throws_ok($$select public.consume_usage('ai', 1, 'dee', '{"a": null}')$$, '22023',
  'metadata values must be strings, numbers or booleans: "a" is null', 'and a null value');
select throws_ok(
  format('select public.consume_usage(%L, 1, %L, %L)', 'ai', 'dee',
    jsonb_build_object('k', repeat('x', 1016))),
  '22023', 'metadata must be at most 1024 bytes once serialised, not 1025',
  'metadata of 1025 bytes is refused');
select is((public.record_usage('calls', 1, 'dee-1024',
  jsonb_build_object('k', repeat('x', 1015))) ->> 'allowed')::boolean, true,
  'while 1024 bytes are taken');
select throws_ok($$select public.consume_usage('ai', 1, 'dee', '{"tokens": 5}')$$, '22023',
  'metadata must not set "tokens", which carries the units of meter "ai"',
  'metadata may not set the property that carries the units');
select is(public.record_usage('calls', 1, 'dee-null-metadata', null) ->> 'allowed', 'true',
  'null metadata is taken as {}');
select results_eq(
  $$select idempotency_key, units from public.polar_usage_events
    where idempotency_key not like 'kkk%' and idempotency_key not like 'ééé%'
    order by id$$,
  $$values ('dee-max'::text, 1000000000000::numeric), ('dee-half', 0.5), ('dee-two', 2.0),
    ('dee-1024', 1), ('dee-null-metadata', 1)$$,
  'of all Dee''s calls, only the admitted ones were recorded');
select is(public.usage_balance('calls'), -5::numeric,
  'Dee, with no meter in Polar, owes what she recorded');

-- ----- anon -----------------------------------------------------------------------------------
reset role;
set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);
select throws_ok($$select public.consume_usage('ai', 1, 'anon')$$, '42501',
  'permission denied for function consume_usage', 'anon cannot spend');
select throws_ok($$select public.record_usage('ai', 1, 'anon')$$, '42501',
  'permission denied for function record_usage', 'nor record');
select is(public.usage_balance('ai'), 0::numeric, 'anon''s balance is 0');
select throws_ok($$select * from public.polar_usage_events$$, '42501',
  'permission denied for table polar_usage_events', 'anon reads no usage');
reset role;
select set_config('role', 'anon', true),
  set_config('request.jwt.claims',
    '{"sub": "a0000000-0000-4000-8000-00000000000a", "role": "anon"}', true);
select is(public.usage_balance('ai'), 0::numeric,
  'nor does anon learn a user''s balance by claiming their sub');

-- ----- service_role: the balance's parts --------------------------------------------------------
reset role;
select pg_temp.as_service();
select is((select count(*) from public.polar_usage_events), 9::bigint,
  'service_role reads every user''s usage');
select is(
  (select external_id from public.polar_usage_events
    where user_id = 'a0000000-0000-4000-8000-00000000000a' and idempotency_key = 'ada-10'),
  'usage_' || encode(sha256(convert_to('a0000000-0000-4000-8000-00000000000a:ada-10', 'UTF8')),
    'hex'),
  'the external_id is derived from the user and the key');
select isnt(
  (select external_id from public.polar_usage_events
    where user_id = 'b0000000-0000-4000-8000-00000000000b' and idempotency_key = 'ada-10'),
  (select external_id from public.polar_usage_events
    where user_id = 'a0000000-0000-4000-8000-00000000000a' and idempotency_key = 'ada-10'),
  'so two users'' same key are two events for Polar');
select results_eq(
  $$select meter_id, event_name, units_property from public.polar_usage_events
    where idempotency_key in ('ada-10', 'ada-calls')
      and user_id = 'a0000000-0000-4000-8000-00000000000a' order by id$$,
  $$values ('meter_ai'::text, 'ai.completion'::text, 'tokens'::text),
    ('meter_calls', 'api.call', null)$$,
  'each row carries its meter''s event name and units property');
select is(
  public.consume_usage('ai', 1, 'svc-ada', '{}', 'a0000000-0000-4000-8000-00000000000a'),
  '{"allowed": false, "balance": 0, "duplicate": false}'::jsonb,
  'service_role spends for the user it names, against the same balance');
-- Ada's 10 units reach Polar (2xx); Polar's reading is still 0 (its recompute is late).
update public.polar_usage_events set delivered_at = now()
where user_id = 'a0000000-0000-4000-8000-00000000000a' and idempotency_key = 'ada-10';
select is(pg_temp.balance('a0000000-0000-4000-8000-00000000000a', 'meter_ai'), 0::numeric,
  'once delivered, the units count as consumed before Polar''s late reading shows them');
update public.polar_meters set consumed_units = 10, balance = 0
where user_id = 'a0000000-0000-4000-8000-00000000000a';
select is(pg_temp.balance('a0000000-0000-4000-8000-00000000000a', 'meter_ai'), 0::numeric,
  'and are not subtracted twice once Polar''s reading includes them');
update public.polar_meters set consumed_units = 14, balance = -4
where user_id = 'a0000000-0000-4000-8000-00000000000a';
select is(pg_temp.balance('a0000000-0000-4000-8000-00000000000a', 'meter_ai'), -4::numeric,
  'usage Polar counted from elsewhere counts too: the balance equals Polar''s');
-- A new meter period: Polar resets the meter and grants 10 again.
update public.polar_meters set consumed_units = 0, balance = 10
where user_id = 'a0000000-0000-4000-8000-00000000000a';
update public.polar_usage_events set recorded_at = '2026-11-14T23:59:59.999999Z'
where user_id = 'a0000000-0000-4000-8000-00000000000a' and idempotency_key = 'ada-10';
select is(pg_temp.balance('a0000000-0000-4000-8000-00000000000a', 'meter_ai'), 10::numeric,
  'units delivered 1 µs before the meter period (2026-11-15) do not count in it');
update public.polar_usage_events set recorded_at = '2026-11-15T00:00:00Z'
where user_id = 'a0000000-0000-4000-8000-00000000000a' and idempotency_key = 'ada-10';
select is(pg_temp.balance('a0000000-0000-4000-8000-00000000000a', 'meter_ai'), 0::numeric,
  'units delivered at its start do, though the billing period began on 2026-11-01');
update public.polar_subscriptions set current_meter_period_start = null where id = 'sub_ada';
update public.polar_usage_events set recorded_at = '2026-10-31T23:59:59.999999Z'
where user_id = 'a0000000-0000-4000-8000-00000000000a' and idempotency_key = 'ada-10';
select is(pg_temp.balance('a0000000-0000-4000-8000-00000000000a', 'meter_ai'), 10::numeric,
  'without a meter cycle, the billing period''s start bounds it');
select is(
  public.consume_usage('ai', 10, 'svc-ada-new-period', '{}',
    'a0000000-0000-4000-8000-00000000000a'),
  '{"allowed": true, "balance": 0, "duplicate": false}'::jsonb,
  'and the new period''s credits are spent');
-- Units Polar refused stay subtracted: they were used.
update public.polar_usage_events set polar_refusal = 'Customer does not exist.'
where idempotency_key = 'svc-ada-new-period';
select is(pg_temp.balance('a0000000-0000-4000-8000-00000000000a', 'meter_ai'), 0::numeric,
  'units Polar refused still count against the balance');
select is(pg_temp.balance('b0000000-0000-4000-8000-00000000000b', 'meter_ai'), 0::numeric,
  'none of Ada''s changes moved Bob''s balance');
-- Bob has no subscription: every delivered unit counts, whenever recorded.
update public.polar_usage_events set delivered_at = now(), recorded_at = '2020-01-01T00:00:00Z'
where user_id = 'b0000000-0000-4000-8000-00000000000b';
select is(pg_temp.balance('b0000000-0000-4000-8000-00000000000b', 'meter_ai'), 0::numeric,
  'with no subscription, the meter period never started: delivered units always count');
-- A top-up: Polar's snapshot credits Bob 5 more.
update public.polar_meters set credited_units = 8, balance = 8
where user_id = 'b0000000-0000-4000-8000-00000000000b';
select is(
  public.consume_usage('ai', 5, 'bob-after-top-up', '{}', 'b0000000-0000-4000-8000-00000000000b'),
  '{"allowed": true, "balance": 0, "duplicate": false}'::jsonb,
  'a top-up shows in the balance as soon as Polar''s state brings it');
select is(
  public.consume_usage('ai', 1, 'bob-1', '{}', 'b0000000-0000-4000-8000-00000000000b'),
  '{"allowed": false, "balance": 0, "duplicate": false}'::jsonb,
  'the key Bob was refused earlier is decided again, and refused again at 0');
select is(
  public.store_polar_meters(jsonb_build_array(
    pg_temp.meter('meter_ai', 'ai', pg_temp.named('ai.completion'),
      '{"func": "sum", "property": "tokens"}'))),
  '{"meters": 1, "unsupported": []}'::jsonb, 'a later list replaces the stored meters whole');
select throws_ok(
  $$select public.record_usage('calls', 1, 'gone', '{}', 'a0000000-0000-4000-8000-00000000000a')$$,
  '22023', 'unknown meter "calls"', 'so a meter Polar no longer lists is unknown');
select is((select count(*) from public.polar_usage_events where meter = 'calls'), 5::bigint,
  'while its recorded usage stays in the outbox');

-- ----- The meter period across snapshots ----------------------------------------------------
reset role;
update public.polar_subscriptions set current_meter_period_start = '2026-11-15T00:00:00Z'
where id = 'sub_ada';
select polar.apply_subscription('a0000000-0000-4000-8000-00000000000a', 'cus_ada',
  '{"id": "sub_ada", "status": "active", "current_period_start": "2026-11-01T00:00:00Z",
    "version": "2026-11-20T00:00:00Z"}');
select is(
  (select current_meter_period_start from public.polar_subscriptions where id = 'sub_ada'),
  '2026-11-15T00:00:00Z'::timestamptz,
  'a Customer State''s subscription (which carries no meter period) keeps the stored one');
select polar.apply_subscription('a0000000-0000-4000-8000-00000000000a', 'cus_ada',
  '{"id": "sub_ada", "status": "active", "current_period_start": "2026-11-01T00:00:00Z",
    "current_meter_period_start": "2026-11-25T00:00:00Z", "version": "2026-11-25T00:00:00Z"}');
select is(
  (select current_meter_period_start from public.polar_subscriptions where id = 'sub_ada'),
  '2026-11-25T00:00:00Z'::timestamptz, 'a subscription event moves it to the new period');

select * from finish();
rollback;
