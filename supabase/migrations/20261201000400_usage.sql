-- =====================================================================================
-- usage: spend and record metered usage in the app's own database, with an exact balance
-- (issue 18, points 1 and 2). Polar never blocks usage and its customer meters are late
-- (recomputed by a debounced job 15 s to 180 min after ingestion), so the database keeps
-- the balance and admits each spend atomically against it.
--
--   * polar.usage_meters: Polar's meter definitions (GET /v1/meters/), written whole by
--     public.store_polar_meters(meters) (service_role). A meter this project cannot feed
--     ("events named N" counted, or summing one metadata property P) is stored with the
--     reason, and every call naming it is refused with that reason.
--   * public.polar_usage_events: every recorded use, and the outbox the flush to Polar
--     (sync scope "usage", later) reads: a stable external_id from the user and the key, the
--     meter's event name and units property, the caller's metadata, when it was recorded,
--     when Polar answered 2xx for it (null until then) and Polar's refusal reason. Each user
--     reads their own rows (RLS); only these functions insert.
--   * polar.usage_accounts: one row per user and meter, locked by every spend and record.
--   * public.consume_usage(...), public.record_usage(...), public.usage_balance(meter).
--   * polar_subscriptions.current_meter_period_start: the start of the subscription's meter
--     period (Polar's current_meter_period_start), when the change carries it.
--
-- The balance of a user and meter (polar.usage_balance_of):
--   credited - greatest(consumed, delivered) - pending
-- where credited and consumed are Polar's credited_units and consumed_units from the
-- latest applied Customer State (public.polar_meters; only through a verified link),
-- delivered is the units of this project's events Polar answered 2xx for and that were
-- recorded within the meter's current period, and pending is the units recorded and not
-- yet delivered (whatever their period; refused ones included). Polar does not say which
-- events a reading includes, so neither side is trusted alone: within a period, what was
-- consumed is at least Polar's reading and at least what was delivered; the larger is a
-- lower bound, exact when this project is the only sender, and equal to Polar's own
-- balance once Polar has counted everything and nothing is pending.
--
-- The meter's current period starts at the latest period start among the customer's
-- subscriptions through the verified link: current_meter_period_start when Polar gives
-- one (products with a meter cycle), else current_period_start (the billing cycle, when
-- Polar resets meters otherwise); with no subscription (credit packs only) it never
-- started (-infinity), so every delivered unit counts. Events are sent with the time they
-- were recorded, and Polar places them in a period by that timestamp.
--
-- Replaces polar.apply_subscription (from 20261127000200_entitlements.sql), with the same
-- signature, to store current_meter_period_start.
-- =====================================================================================

-- ----- The meter period of a subscription ------------------------------------------------------
alter table public.polar_subscriptions add column current_meter_period_start timestamptz;
comment on column public.polar_subscriptions.current_meter_period_start is
  'Start of the current meter period (Polar''s current_meter_period_start), when the product has a meter cycle; the usage balance counts delivered units from it.';

-- Same contract as in 20261127000200_entitlements.sql; also stores the change's
-- current_meter_period_start (a subscription event carries it; a Customer State's
-- subscriptions do not, and then the stored one stays). Internal.
create or replace function polar.apply_subscription(
  user_id uuid,
  customer_id text,
  subscription jsonb
) returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_rows integer;
begin
  insert into public.polar_subscriptions as s (
    id, user_id, polar_customer_id, product_id, status, current_period_start,
    current_period_end, current_meter_period_start, cancel_at_period_end, trial_end,
    canceled_at, ended_at, polar_modified_at
  )
  values (
    subscription ->> 'id',
    apply_subscription.user_id,
    apply_subscription.customer_id,
    subscription ->> 'product_id',
    subscription ->> 'status',
    (subscription ->> 'current_period_start')::timestamptz,
    (subscription ->> 'current_period_end')::timestamptz,
    (subscription ->> 'current_meter_period_start')::timestamptz,
    coalesce((subscription ->> 'cancel_at_period_end')::boolean, false),
    (subscription ->> 'trial_end')::timestamptz,
    (subscription ->> 'canceled_at')::timestamptz,
    (subscription ->> 'ended_at')::timestamptz,
    (subscription ->> 'version')::timestamptz
  )
  on conflict on constraint polar_subscriptions_pkey do update
    set user_id = excluded.user_id,
        polar_customer_id = excluded.polar_customer_id,
        product_id = excluded.product_id,
        status = excluded.status,
        current_period_start = excluded.current_period_start,
        current_period_end = excluded.current_period_end,
        -- A Customer State's subscriptions do not carry it: keep what a subscription event said.
        current_meter_period_start = case
          when subscription ? 'current_meter_period_start' then excluded.current_meter_period_start
          else s.current_meter_period_start
        end,
        cancel_at_period_end = excluded.cancel_at_period_end,
        trial_end = excluded.trial_end,
        canceled_at = excluded.canceled_at,
        ended_at = excluded.ended_at,
        polar_modified_at = excluded.polar_modified_at,
        updated_at = now()
    where s.polar_modified_at < excluded.polar_modified_at;
  get diagnostics v_rows = row_count;
  return v_rows > 0;
end;
$$;

-- ----- Tables -------------------------------------------------------------------------------
-- In schema polar, which the API does not expose: the definitions are the operator's
-- configuration, read by the functions below as their owner; no API role needs them, and a
-- meter's filter may name events the app would rather not publish.
create table polar.usage_meters (
  id text primary key,
  name text not null,
  event_name text,
  aggregation text check (aggregation in ('count', 'sum')),
  units_property text,
  unsupported_reason text,
  definition jsonb not null,
  stored_at timestamptz not null default now(),
  check ((unsupported_reason is null) = (event_name is not null and aggregation is not null)),
  check (aggregation is distinct from 'sum' or units_property is not null)
);

comment on table polar.usage_meters is
  'Polar''s meters (GET /v1/meters/) as the last store_polar_meters call gave them; unsupported ones carry the reason.';
comment on column polar.usage_meters.units_property is
  'The event metadata property Polar sums, for a sum meter; null for a count meter (one event per unit).';

create index usage_meters_name_idx on polar.usage_meters (name);

alter table polar.usage_meters enable row level security;
revoke all on table polar.usage_meters from public, anon, authenticated, service_role;

create table public.polar_usage_events (
  id bigint generated always as identity primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  meter_id text not null,
  meter text not null,
  event_name text not null,
  units_property text,
  units numeric not null check (units > 0),
  idempotency_key text not null,
  external_id text not null unique,
  metadata jsonb not null default '{}',
  limited boolean not null,
  recorded_at timestamptz not null default now(),
  delivered_at timestamptz,
  polar_refusal text,
  constraint polar_usage_events_user_key unique (user_id, idempotency_key)
);

comment on table public.polar_usage_events is
  'Every use recorded by consume_usage and record_usage, and the outbox the usage flush sends to Polar''s POST /v1/events/ingest.';
comment on column public.polar_usage_events.meter is 'The meter''s name when it was recorded.';
comment on column public.polar_usage_events.event_name is
  'The event name Polar''s meter filters on, copied when recorded.';
comment on column public.polar_usage_events.units_property is
  'For a sum meter, the metadata property that carries units; null for a count meter, which is sent as `units` events (external_id suffixed ":1" to ":<units>").';
comment on column public.polar_usage_events.external_id is
  'The event''s external_id, derived from the user and the idempotency key; Polar dedupes on it.';
comment on column public.polar_usage_events.limited is
  'Whether consume_usage admitted it against the balance (false: record_usage).';
comment on column public.polar_usage_events.recorded_at is
  'When it was recorded; sent as the event''s timestamp.';
comment on column public.polar_usage_events.delivered_at is
  'When Polar answered 2xx for it; null until then.';
comment on column public.polar_usage_events.polar_refusal is
  'Why Polar refused it (a 422 for this event), if it did.';

create index polar_usage_events_pending_idx on public.polar_usage_events (user_id, meter_id)
  where delivered_at is null;
create index polar_usage_events_delivered_idx
  on public.polar_usage_events (user_id, meter_id, recorded_at)
  where delivered_at is not null;
create index polar_usage_events_outbox_idx on public.polar_usage_events (id)
  where delivered_at is null and polar_refusal is null;

alter table public.polar_usage_events enable row level security;
revoke all on table public.polar_usage_events from public, anon, authenticated;
grant select on table public.polar_usage_events to authenticated;
grant select, update on table public.polar_usage_events to service_role;

-- Policy: a signed-in user reads their own usage and no one else's.
create policy "Users can read their own usage"
  on public.polar_usage_events for select to authenticated
  using ((select auth.uid()) = user_id);

create table polar.usage_accounts (
  user_id uuid not null references auth.users (id) on delete cascade,
  meter_id text not null,
  locked_at timestamptz not null default now(),
  primary key (user_id, meter_id)
);

comment on table polar.usage_accounts is
  'One row per user and meter, locked (and written) by every consume_usage and record_usage for them.';

alter table polar.usage_accounts enable row level security;
revoke all on table polar.usage_accounts from public, anon, authenticated, service_role;

-- ----- polar.usage_meter_support ----------------------------------------------------------------
-- How this project feeds a Polar Meter object, or why it cannot: the event name of a filter
-- that is exactly one clause `name eq <string>`, and an aggregation that is count or the sum
-- of one top-level metadata property. Internal.
create function polar.usage_meter_support(
  meter jsonb,
  out event_name text,
  out aggregation text,
  out units_property text,
  out reason text
)
language plpgsql
immutable
security invoker
set search_path = ''
as $$
declare
  v_clauses jsonb := meter #> '{filter,clauses}';
  v_clause jsonb;
  v_func text := coalesce(meter #>> '{aggregation,func}',
    case when meter -> 'aggregation' ? 'property' then 'unique' else 'count' end);
  v_property jsonb := meter #> '{aggregation,property}';
begin
  if jsonb_typeof(meter -> 'archived_at') = 'string' then
    reason := 'the meter is archived in Polar';
    return;
  end if;
  if jsonb_typeof(v_clauses) is distinct from 'array' or jsonb_array_length(v_clauses) <> 1 then
    reason := 'its filter is not one clause "name eq <event name>"';
    return;
  end if;
  v_clause := v_clauses -> 0;
  if v_clause ->> 'property' is distinct from 'name'
    or v_clause ->> 'operator' is distinct from 'eq'
    or jsonb_typeof(v_clause -> 'value') is distinct from 'string'
    or v_clause ->> 'value' = '' then
    reason := 'its filter is not one clause "name eq <event name>"';
    return;
  end if;
  if jsonb_typeof(meter -> 'aggregation') is distinct from 'object' then
    reason := 'it has no aggregation';
    return;
  end if;
  if v_func = 'count' then
    aggregation := 'count';
  elsif v_func = 'sum' then
    if jsonb_typeof(v_property) is distinct from 'string' or v_property #>> '{}' = ''
      or position('.' in v_property #>> '{}') > 0 or v_property #>> '{}' = 'name' then
      reason := 'it sums no top-level metadata property';
      return;
    end if;
    aggregation := 'sum';
    units_property := v_property #>> '{}';
  else
    reason := format('its aggregation is %s (only count, or sum of one property)', v_func);
    return;
  end if;
  event_name := v_clause ->> 'value';
end;
$$;

comment on function polar.usage_meter_support(jsonb) is
  'The event name, aggregation and units property this project sends for a Polar meter, or why it cannot. Internal.';
revoke all on function polar.usage_meter_support(jsonb)
  from public, anon, authenticated, service_role;

-- ----- public.store_polar_meters ---------------------------------------------------------------
-- Replaces the stored meter definitions with `meters`, the whole list of Polar's Meter
-- objects (every page of GET /v1/meters/). Meters not in it are removed (recorded usage
-- keeps its own copy of the event name and property). Two meters of one name are both
-- unsupported, since a call names its meter by name. Answers {meters, unsupported:
-- [{name, reason}]}, so sync can report each refused meter by name. service_role only.
create function public.store_polar_meters(meters jsonb) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if jsonb_typeof(store_polar_meters.meters) is distinct from 'array' then
    raise exception 'meters must be a JSON array of Polar Meter objects'
      using errcode = 'invalid_parameter_value';
  end if;
  if exists (
    select 1 from jsonb_array_elements(store_polar_meters.meters) as item
    where jsonb_typeof(item) is distinct from 'object'
      or jsonb_typeof(item -> 'id') is distinct from 'string'
      or jsonb_typeof(item -> 'name') is distinct from 'string'
  ) then
    raise exception 'every meter needs a string id and name'
      using errcode = 'invalid_parameter_value';
  end if;
  if (select count(distinct item ->> 'id') <> count(*)
      from jsonb_array_elements(store_polar_meters.meters) as item) then
    raise exception 'meters lists one id twice' using errcode = 'invalid_parameter_value';
  end if;

  delete from polar.usage_meters as m
  where m.id not in (
    select item ->> 'id' from jsonb_array_elements(store_polar_meters.meters) as item);

  insert into polar.usage_meters as m
    (id, name, event_name, aggregation, units_property, unsupported_reason, definition)
  select item ->> 'id', item ->> 'name',
    case when shared then null else support.event_name end,
    case when shared then null else support.aggregation end,
    case when shared then null else support.units_property end,
    case when shared then format('more than one meter is named "%s"', item ->> 'name')
      else support.reason end,
    item
  from (
    select item, count(*) over (partition by item ->> 'name') > 1 as shared
    from jsonb_array_elements(store_polar_meters.meters) as item
    where jsonb_typeof(item -> 'archived_at') is distinct from 'string'
    union all
    select item, false
    from jsonb_array_elements(store_polar_meters.meters) as item
    where jsonb_typeof(item -> 'archived_at') = 'string'
  ) as listed
  cross join lateral polar.usage_meter_support(listed.item) as support
  on conflict (id) do update
    set name = excluded.name,
        event_name = excluded.event_name,
        aggregation = excluded.aggregation,
        units_property = excluded.units_property,
        unsupported_reason = excluded.unsupported_reason,
        definition = excluded.definition,
        stored_at = now();

  return jsonb_build_object(
    'meters', (select count(*) from polar.usage_meters),
    'unsupported', coalesce((
      select jsonb_agg(jsonb_build_object('name', m.name, 'reason', m.unsupported_reason)
        order by m.name, m.id)
      from polar.usage_meters as m where m.unsupported_reason is not null), '[]'));
end;
$$;

comment on function public.store_polar_meters(jsonb) is
  'Replaces the stored Polar meter definitions with the given list of Meter objects; answers {meters, unsupported: [{name, reason}]}. service_role only.';
revoke all on function public.store_polar_meters(jsonb) from public, anon, authenticated;
grant execute on function public.store_polar_meters(jsonb) to service_role;

-- ----- polar.usage_meter --------------------------------------------------------------------------
-- The supported meter a call names, or 22023 naming why not. A name is looked up among the
-- meters not archived first (an archived meter of the same name only explains a refusal).
-- Internal.
create function polar.usage_meter(name text) returns polar.usage_meters
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_meter polar.usage_meters;
begin
  select m.* into v_meter
  from polar.usage_meters as m
  where m.name = usage_meter.name
  order by (m.unsupported_reason is null) desc, (m.definition ->> 'archived_at') is null desc,
    m.id
  limit 1;
  if v_meter.id is null then
    raise exception 'unknown meter "%"', usage_meter.name
      using errcode = 'invalid_parameter_value',
        hint = 'meter is the Polar meter''s name; sync stores the meters Polar lists';
  end if;
  if v_meter.unsupported_reason is not null then
    raise exception 'meter "%" is not supported: %', usage_meter.name, v_meter.unsupported_reason
      using errcode = 'invalid_parameter_value';
  end if;
  return v_meter;
end;
$$;

comment on function polar.usage_meter(text) is
  'The supported stored meter of that name, or an error (22023) saying why not. Internal.';
revoke all on function polar.usage_meter(text) from public, anon, authenticated, service_role;

-- ----- polar.usage_period_start ----------------------------------------------------------------
-- When the user's meter period started, by the rule in the banner. Internal.
create function polar.usage_period_start(user_id uuid) returns timestamptz
language sql
stable
security invoker
set search_path = ''
as $$
  select coalesce(max(coalesce(s.current_meter_period_start, s.current_period_start)),
    '-infinity')
  from public.polar_subscriptions as s
  join public.user_subscriptions as u on u.user_id = s.user_id
  where s.user_id = usage_period_start.user_id
    and u.polar_customer_verified
    and s.polar_customer_id = u.polar_customer_id;
$$;

comment on function polar.usage_period_start(uuid) is
  'Start of the user''s current meter period: the latest (meter) period start of their verified customer''s subscriptions, else -infinity. Internal.';
revoke all on function polar.usage_period_start(uuid)
  from public, anon, authenticated, service_role;

-- ----- polar.usage_balance_of -------------------------------------------------------------------
-- A user's balance of a meter, by the formula in the banner. Exact only when read after
-- the user and meter's usage_accounts row is locked (as the spend functions do), in a
-- statement that starts after the lock is granted. Internal.
create function polar.usage_balance_of(user_id uuid, meter_id text) returns numeric
language sql
stable
security invoker
set search_path = ''
as $$
  with polar_side as (
    select m.credited_units, m.consumed_units
    from public.polar_meters as m
    join public.user_subscriptions as u on u.user_id = m.user_id
    where m.user_id = usage_balance_of.user_id
      and m.meter_id = usage_balance_of.meter_id
      and u.polar_customer_verified
      and u.polar_customer_id is not null
  ),
  ours as (
    select
      coalesce(sum(e.units) filter (where e.delivered_at is not null
        and e.recorded_at >= polar.usage_period_start(usage_balance_of.user_id)), 0)
        as delivered,
      coalesce(sum(e.units) filter (where e.delivered_at is null), 0) as pending
    from public.polar_usage_events as e
    where e.user_id = usage_balance_of.user_id
      and e.meter_id = usage_balance_of.meter_id
  )
  select coalesce((select p.credited_units from polar_side as p), 0)
    - greatest(coalesce((select p.consumed_units from polar_side as p), 0), ours.delivered)
    - ours.pending
  from ours;
$$;

comment on function polar.usage_balance_of(uuid, text) is
  'A user''s balance of a meter: credited - greatest(Polar''s consumed, delivered this period) - pending. Internal.';
revoke all on function polar.usage_balance_of(uuid, text)
  from public, anon, authenticated, service_role;

-- ----- polar.usage_caller -------------------------------------------------------------------------
-- Whose usage a call spends: `authenticated` spends only its own (user_id null or its own
-- id, else 42501); `anon` is refused (42501); any other role allowed to execute (service_role,
-- the database owner's own SQL) names user_id, or is the signed-in user of the request.
-- The role is the caller's (`role` is not changed by security definer). Internal.
create function polar.usage_caller(user_id uuid) returns uuid
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_role text := current_setting('role', true);
  v_uid uuid := auth.uid();
  v_user uuid;
begin
  if v_role = 'anon' then
    raise exception 'anon may not spend or record usage'
      using errcode = 'insufficient_privilege';
  elsif v_role = 'authenticated' then
    if v_uid is null then
      raise exception 'no signed-in user' using errcode = 'insufficient_privilege';
    elsif usage_caller.user_id is not null and usage_caller.user_id <> v_uid then
      raise exception 'a user may spend and record only their own usage'
        using errcode = 'insufficient_privilege';
    end if;
    v_user := v_uid;
  else
    v_user := coalesce(usage_caller.user_id, v_uid);
    if v_user is null then
      raise exception 'user_id is required' using errcode = 'invalid_parameter_value';
    end if;
  end if;
  if polar.user_id_of(v_user::text) is null then
    raise exception 'no such user: %', v_user using errcode = 'invalid_parameter_value';
  end if;
  return v_user;
end;
$$;

comment on function polar.usage_caller(uuid) is
  'The user whose usage a call spends, or 42501/22023 when the caller may not name them. Internal.';
revoke all on function polar.usage_caller(uuid) from public, anon, authenticated, service_role;

-- ----- polar.check_usage_input ------------------------------------------------------------------
-- Raises 22023 naming the first bad input: units (a finite number > 0 and at most 10^12),
-- the idempotency key (1 to 200 characters), metadata (an object of string, number and
-- boolean values, at most 1 KiB serialised). Internal.
create function polar.check_usage_input(units numeric, idempotency_key text, metadata jsonb)
returns void
language plpgsql
immutable
security invoker
set search_path = ''
as $$
declare
  v_bad text;
begin
  if units is null or units = 'NaN'::numeric or units in ('Infinity', '-Infinity')
    or units <= 0 then
    raise exception 'units must be a finite number greater than 0, not %',
      coalesce(units::text, 'null') using errcode = 'invalid_parameter_value';
  end if;
  if units > 1e12 then
    raise exception 'units must be at most 1000000000000, not %', units
      using errcode = 'invalid_parameter_value';
  end if;
  if idempotency_key is null or idempotency_key = '' then
    raise exception 'idempotency_key must not be empty' using errcode = 'invalid_parameter_value';
  end if;
  if char_length(idempotency_key) > 200 then
    raise exception 'idempotency_key must be at most 200 characters, not %',
      char_length(idempotency_key) using errcode = 'invalid_parameter_value';
  end if;
  if jsonb_typeof(metadata) is distinct from 'object' then
    raise exception 'metadata must be a JSON object, not %', coalesce(jsonb_typeof(metadata), 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  select e.key into v_bad from jsonb_each(metadata) as e
  where jsonb_typeof(e.value) not in ('string', 'number', 'boolean')
  order by e.key limit 1;
  if v_bad is not null then
    raise exception 'metadata values must be strings, numbers or booleans: "%" is %', v_bad,
      jsonb_typeof(metadata -> v_bad) using errcode = 'invalid_parameter_value';
  end if;
  if octet_length(metadata::text) > 1024 then
    raise exception 'metadata must be at most 1024 bytes once serialised, not %',
      octet_length(metadata::text) using errcode = 'invalid_parameter_value';
  end if;
end;
$$;

comment on function polar.check_usage_input(numeric, text, jsonb) is
  'Raises 22023 naming the first bad usage input. Internal.';
revoke all on function polar.check_usage_input(numeric, text, jsonb)
  from public, anon, authenticated, service_role;

-- ----- polar.spend_usage ----------------------------------------------------------------------------
-- What consume_usage (limited) and record_usage (not) share, for a user already allowed:
-- validate, lock the user and meter's account row, answer a known key as a duplicate (or
-- 22023 when it was used with another meter or other units), admit against the balance when
-- limited, record. The lock is an upsert of the account row, so a caller inside a
-- repeatable read transaction gets a serialization failure (40001) instead of a balance
-- read from an older snapshot. Internal.
create function polar.spend_usage(
  user_id uuid,
  meter text,
  units numeric,
  idempotency_key text,
  metadata jsonb,
  limited boolean
) returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_metadata jsonb := coalesce(spend_usage.metadata, '{}');
  v_meter polar.usage_meters;
  v_existing public.polar_usage_events;
  v_balance numeric;
  v_id bigint;
begin
  perform polar.check_usage_input(spend_usage.units, spend_usage.idempotency_key, v_metadata);
  v_meter := polar.usage_meter(spend_usage.meter);
  if v_meter.aggregation = 'count' and spend_usage.units <> trunc(spend_usage.units) then
    raise exception 'units must be a whole number for count meter "%", not %',
      spend_usage.meter, spend_usage.units using errcode = 'invalid_parameter_value';
  end if;
  -- A count meter's units go to Polar as one event each, so a row is kept small enough for
  -- one flush batch (1,000 events).
  if v_meter.aggregation = 'count' and spend_usage.units > 1000 then
    raise exception 'units must be at most 1000 for count meter "%" (one event each), not %',
      spend_usage.meter, spend_usage.units using errcode = 'invalid_parameter_value';
  end if;
  if v_meter.units_property is not null and v_metadata ? v_meter.units_property then
    raise exception 'metadata must not set "%", which carries the units of meter "%"',
      v_meter.units_property, spend_usage.meter using errcode = 'invalid_parameter_value';
  end if;

  insert into polar.usage_accounts as a (user_id, meter_id)
  values (spend_usage.user_id, v_meter.id)
  on conflict on constraint usage_accounts_pkey do update set locked_at = now();

  for attempt in 1..2 loop
    select e.* into v_existing
    from public.polar_usage_events as e
    where e.user_id = spend_usage.user_id and e.idempotency_key = spend_usage.idempotency_key;
    if v_existing.id is not null then
      if v_existing.meter_id <> v_meter.id or v_existing.units <> spend_usage.units then
        raise exception 'idempotency_key "%" was already used with meter "%" and % units',
          spend_usage.idempotency_key, v_existing.meter, v_existing.units
          using errcode = 'invalid_parameter_value';
      end if;
      return jsonb_build_object('allowed', true, 'duplicate', true,
        'balance', polar.usage_balance_of(spend_usage.user_id, v_meter.id));
    end if;
    exit when attempt = 2;

    v_balance := polar.usage_balance_of(spend_usage.user_id, v_meter.id);
    if spend_usage.limited and v_balance < spend_usage.units then
      return jsonb_build_object('allowed', false, 'duplicate', false, 'balance', v_balance);
    end if;
    insert into public.polar_usage_events (user_id, meter_id, meter, event_name,
      units_property, units, idempotency_key, external_id, metadata, limited)
    values (spend_usage.user_id, v_meter.id, v_meter.name, v_meter.event_name,
      v_meter.units_property, spend_usage.units, spend_usage.idempotency_key,
      'usage_' || encode(sha256(convert_to(
        spend_usage.user_id::text || ':' || spend_usage.idempotency_key, 'UTF8')), 'hex'),
      v_metadata, spend_usage.limited)
    on conflict on constraint polar_usage_events_user_key do nothing
    returning id into v_id;
    if v_id is not null then
      return jsonb_build_object('allowed', true, 'duplicate', false,
        'balance', v_balance - spend_usage.units);
    end if;
    -- The same key was recorded meanwhile under another meter's lock: answer as for it.
  end loop;
  raise exception 'idempotency_key "%" is being recorded concurrently',
    spend_usage.idempotency_key using errcode = 'invalid_parameter_value';
end;
$$;

comment on function polar.spend_usage(uuid, text, numeric, text, jsonb, boolean) is
  'Validates, locks the user and meter, and records usage once per idempotency key (against the balance when limited). Internal.';
revoke all on function polar.spend_usage(uuid, text, numeric, text, jsonb, boolean)
  from public, anon, authenticated, service_role;

-- ----- public.consume_usage, public.record_usage, public.usage_balance ------------------------------
-- consume_usage: admits `units` of `meter` only when the balance covers all of them,
-- records them, and answers {allowed, balance (after the call), duplicate}. A refused call
-- records nothing. The same key again answers allowed and duplicate and records nothing; the
-- same key with another meter or other units is an error (22023). Bad input raises 22023
-- saying which. authenticated spends its own units; service_role names user_id; anon is
-- refused. Security definer: it writes the outbox, which no API role may write.
create function public.consume_usage(
  meter text,
  units numeric,
  idempotency_key text,
  metadata jsonb default '{}',
  user_id uuid default null
) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  return polar.spend_usage(polar.usage_caller(consume_usage.user_id), consume_usage.meter,
    consume_usage.units, consume_usage.idempotency_key, consume_usage.metadata, true);
end;
$$;

comment on function public.consume_usage(text, numeric, text, jsonb, uuid) is
  'Spends units of a Polar meter when the balance covers all of them, once per idempotency key: {allowed, balance, duplicate}. authenticated (own usage) and service_role (names user_id).';

-- record_usage: as consume_usage without the limit (pay-as-you-go meters, overage);
-- `allowed` is always true.
create function public.record_usage(
  meter text,
  units numeric,
  idempotency_key text,
  metadata jsonb default '{}',
  user_id uuid default null
) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  return polar.spend_usage(polar.usage_caller(record_usage.user_id), record_usage.meter,
    record_usage.units, record_usage.idempotency_key, record_usage.metadata, false);
end;
$$;

comment on function public.record_usage(text, numeric, text, jsonb, uuid) is
  'Records units of a Polar meter without a limit, once per idempotency key: {allowed: true, balance, duplicate}. authenticated (own usage) and service_role (names user_id).';

-- usage_balance: the calling user's balance now, by the formula in the banner; 0 for anon,
-- for callers without a user, and for unknown or unsupported meters (it never raises, so a
-- policy using it never breaks a query). Read without the lock: a concurrent spend may
-- commit right after. For policies: `using ((select public.usage_balance('…')) > 0)`.
create function public.usage_balance(meter text) returns numeric
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce((
    select polar.usage_balance_of(auth.uid(), m.id)
    from polar.usage_meters as m
    where m.name = usage_balance.meter
      and m.unsupported_reason is null
      and auth.uid() is not null
      and current_setting('role', true) is distinct from 'anon'
    order by m.id
    limit 1), 0);
$$;

comment on function public.usage_balance(text) is
  'The calling user''s balance of a Polar meter now (0 for anon, no user, or an unknown meter). For RLS policies and rpc().';

revoke all on function
  public.consume_usage(text, numeric, text, jsonb, uuid),
  public.record_usage(text, numeric, text, jsonb, uuid),
  public.usage_balance(text)
  from public, anon, authenticated, service_role;
grant execute on function
  public.consume_usage(text, numeric, text, jsonb, uuid),
  public.record_usage(text, numeric, text, jsonb, uuid)
  to authenticated, service_role;
grant execute on function public.usage_balance(text) to anon, authenticated, service_role;
