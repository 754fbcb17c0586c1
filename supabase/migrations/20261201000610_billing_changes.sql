-- =====================================================================================
-- billing_changes (issue 20, point 3): the app's own code on billing changes, the Supabase
-- way. Every change to a user's billing state writes one row to an append-only table,
-- public.polar_billing_changes, in the same transaction as the change; an app puts a
-- trigger or a Supabase Database Webhook on it. Users read their own rows.
--
-- Exactly once. Each row has a change_key that names the fact, not the delivery:
--   subscription_started:<id>                   the subscription was first seen past incomplete
--   subscription_renewed:<id>:<period start>    its period advanced while it was active or past_due
--   subscription_canceled:<id>:<canceled_at>    it was canceled (now or at the period end)
--   subscription_ended:<id>                     it ended (ended_at, or status canceled/unpaid)
--   benefit_granted:<grant id>:<granted_at>     a Customer State lists the grant
--   benefit_revoked:<grant id>:<granted_at>     a newer Customer State no longer lists it
--   order_paid:<order id>                       order.paid
--   order_refunded:<order id>:<refunded amount> order.refunded
-- and `on conflict (change_key) do nothing`, so redeliveries (already stopped by the
-- webhook-id), the pull path and a snapshot that repeats what an event said add nothing.
-- Changes are derived from what is stored, after the staleness rules: an event older than
-- the stored state changes nothing and so records nothing, and reordered events record each
-- fact once, when the state that shows it is first stored.
--
-- Replaces polar.apply_customer_state (current body in 20261127000200_entitlements.sql)
-- to record grants and revocations, and polar.apply_change (current body in
-- 20261201000100_hardening.sql) to apply order events. Subscriptions are recorded by a
-- trigger on public.polar_subscriptions, so every writer is covered.
-- =====================================================================================

-- ----- Table --------------------------------------------------------------------------------
create table public.polar_billing_changes (
  id bigint generated always as identity primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  kind text not null check (kind in (
    'subscription_started', 'subscription_renewed', 'subscription_canceled',
    'subscription_ended', 'benefit_granted', 'benefit_revoked', 'order_paid', 'order_refunded'
  )),
  polar_id text not null,
  occurred_at timestamptz not null,
  details jsonb not null default '{}',
  change_key text not null unique,
  recorded_at timestamptz not null default now()
);

comment on table public.polar_billing_changes is
  'Append-only: one row per change to a user''s billing state, written in the transaction of the change, once however often Polar redelivers. Put a trigger or a Database Webhook on it.';
comment on column public.polar_billing_changes.polar_id is
  'The Polar object: the subscription, the benefit grant or the order.';
comment on column public.polar_billing_changes.details is
  'What an app may need without a lookup: product_id and status (subscriptions), benefit_id, benefit_type and key (benefits), product_id, subscription_id and amounts (orders).';
comment on column public.polar_billing_changes.change_key is
  'The fact this row records (see the migration''s banner); unique, so each fact is recorded once.';

create index polar_billing_changes_user_id_idx on public.polar_billing_changes (user_id, id);

alter table public.polar_billing_changes enable row level security;
revoke all on table public.polar_billing_changes from public, anon, authenticated, service_role;
grant select on table public.polar_billing_changes to authenticated, service_role;

-- Policy: a signed-in user reads their own billing changes and no one else's.
create policy "Users can read their own billing changes"
  on public.polar_billing_changes for select to authenticated
  using ((select auth.uid()) = user_id);
-- Policy: the service role reads every user's billing changes (an app's server code).
create policy "The service role can read every billing change"
  on public.polar_billing_changes for select to service_role
  using (true);

-- ----- Append-only ----------------------------------------------------------------------------
-- No API role may write; the owner's functions below insert. An UPDATE is refused even for
-- the owner; rows go only when their user is deleted (on delete cascade).
create function polar.refuse_billing_change_update() returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  raise exception 'public.polar_billing_changes is append-only'
    using errcode = 'insufficient_privilege';
end;
$$;

comment on function polar.refuse_billing_change_update() is
  'Refuses any UPDATE of public.polar_billing_changes. Internal.';
revoke all on function polar.refuse_billing_change_update()
  from public, anon, authenticated, service_role;

create trigger polar_billing_changes_append_only
  before update on public.polar_billing_changes
  for each row execute function polar.refuse_billing_change_update();

-- ----- polar.record_billing_change --------------------------------------------------------------
-- Records one fact unless its change_key is already there. Returns whether it was new.
-- Internal.
create function polar.record_billing_change(
  user_id uuid,
  kind text,
  polar_id text,
  occurred_at timestamptz,
  details jsonb,
  change_key text
) returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_rows integer;
begin
  insert into public.polar_billing_changes
    (user_id, kind, polar_id, occurred_at, details, change_key)
  values (
    record_billing_change.user_id, record_billing_change.kind, record_billing_change.polar_id,
    record_billing_change.occurred_at, jsonb_strip_nulls(record_billing_change.details),
    record_billing_change.change_key
  )
  on conflict on constraint polar_billing_changes_change_key_key do nothing;
  get diagnostics v_rows = row_count;
  return v_rows > 0;
end;
$$;

comment on function polar.record_billing_change(uuid, text, text, timestamptz, jsonb, text) is
  'Records one billing change once per change_key. Internal.';
revoke all on function polar.record_billing_change(uuid, text, text, timestamptz, jsonb, text)
  from public, anon, authenticated, service_role;

-- A timestamp as it goes into a change_key: epoch seconds with microseconds, independent of
-- the session's time zone. Internal.
create function polar.change_key_time(at timestamptz) returns text
language sql
immutable
security invoker
set search_path = ''
as $$
  select coalesce(extract(epoch from change_key_time.at)::text, '');
$$;

comment on function polar.change_key_time(timestamptz) is
  'A timestamp as a change_key part (epoch seconds). Internal.';
revoke all on function polar.change_key_time(timestamptz)
  from public, anon, authenticated, service_role;

-- ----- Subscriptions: a trigger, so every writer of polar_subscriptions is covered --------------
-- Security definer: the service role may write polar_subscriptions directly, and the row
-- then still lands in the append-only table that it may not write. Internal.
create function polar.record_subscription_changes() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_details jsonb := jsonb_build_object('product_id', new.product_id, 'status', new.status);
begin
  -- Any status past incomplete means it started, so an ended state seen first (the events
  -- reordered) still records the start.
  if new.status in ('active', 'trialing', 'past_due', 'unpaid', 'canceled') then
    perform polar.record_billing_change(new.user_id, 'subscription_started', new.id,
      coalesce(new.current_period_start, new.polar_modified_at), v_details,
      'subscription_started:' || new.id);
  end if;
  if tg_op = 'UPDATE'
    and new.status = 'active'
    and old.status in ('active', 'past_due')
    and new.current_period_start > old.current_period_start then
    perform polar.record_billing_change(new.user_id, 'subscription_renewed', new.id,
      new.current_period_start,
      v_details || jsonb_build_object('current_period_end', new.current_period_end),
      'subscription_renewed:' || new.id || ':' || polar.change_key_time(new.current_period_start));
  end if;
  if new.cancel_at_period_end or new.canceled_at is not null then
    perform polar.record_billing_change(new.user_id, 'subscription_canceled', new.id,
      coalesce(new.canceled_at, new.polar_modified_at),
      v_details || jsonb_build_object('cancel_at_period_end', new.cancel_at_period_end,
        'current_period_end', new.current_period_end),
      'subscription_canceled:' || new.id || ':' || polar.change_key_time(new.canceled_at));
  end if;
  if new.ended_at is not null or new.status in ('canceled', 'unpaid', 'incomplete_expired') then
    perform polar.record_billing_change(new.user_id, 'subscription_ended', new.id,
      coalesce(new.ended_at, new.polar_modified_at), v_details,
      'subscription_ended:' || new.id);
  end if;
  return null;
end;
$$;

comment on function polar.record_subscription_changes() is
  'Records the billing changes a stored subscription shows (started, renewed, canceled, ended). Internal.';
revoke all on function polar.record_subscription_changes()
  from public, anon, authenticated, service_role;

create trigger polar_record_subscription_changes
  after insert or update of status, current_period_start, cancel_at_period_end, canceled_at,
    ended_at
  on public.polar_subscriptions
  for each row execute function polar.record_subscription_changes();

-- Backfill: what the stored subscriptions and grants already show is recorded now, under
-- its keys, so that a later update does not report an old fact as new. An app's triggers,
-- installed after this migration, never fire for these rows. (`set status = status` fires
-- the trigger above, which is the one place the subscription rules live.)
update public.polar_subscriptions set status = status;
insert into public.polar_billing_changes
  (user_id, kind, polar_id, occurred_at, details, change_key)
select g.user_id, 'benefit_granted', g.grant_id, coalesce(g.granted_at, now()),
  jsonb_strip_nulls(jsonb_build_object('benefit_id', g.benefit_id, 'benefit_type',
    g.benefit_type, 'key', g.benefit_metadata ->> 'key')),
  'benefit_granted:' || g.grant_id || ':' || polar.change_key_time(g.granted_at)
from public.polar_benefit_grants as g
on conflict (change_key) do nothing;

-- ----- polar.apply_customer_state, replaced: grants and revocations are recorded ----------------
-- Same contract as in 20261127000200_entitlements.sql. New: each grant the snapshot lists is
-- recorded as benefit_granted (once per grant and granted_at), and each grant the previous
-- snapshot listed and this one does not as benefit_revoked.
create or replace function polar.apply_customer_state(user_id uuid, customer_id text, state jsonb)
returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_at timestamptz := (state ->> 'at')::timestamptz;
  v_subscription jsonb;
  v_listed text[];
  v_rows integer;
  v_previous jsonb;
begin
  update public.user_subscriptions as u
  set polar_state_at = v_at
  where u.user_id = apply_customer_state.user_id
    and (u.polar_state_at is null or u.polar_state_at < v_at);
  get diagnostics v_rows = row_count;
  if v_rows = 0 then
    return false;
  end if;

  for v_subscription in select * from jsonb_array_elements(state -> 'subscriptions') loop
    perform polar.apply_subscription(apply_customer_state.user_id, customer_id, v_subscription);
  end loop;
  select coalesce(array_agg(item ->> 'id'), '{}') into v_listed
  from jsonb_array_elements(state -> 'subscriptions') as item;
  update public.polar_subscriptions as s
  set in_latest_state = s.id = any(v_listed)
  where s.user_id = apply_customer_state.user_id
    and s.in_latest_state is distinct from (s.id = any(v_listed));

  select coalesce(jsonb_agg(to_jsonb(g)), '[]') into v_previous
  from public.polar_benefit_grants as g
  where g.user_id = apply_customer_state.user_id;

  delete from public.polar_benefit_grants as g where g.user_id = apply_customer_state.user_id;
  insert into public.polar_benefit_grants
    (user_id, grant_id, benefit_id, benefit_type, benefit_metadata, properties, granted_at)
  select apply_customer_state.user_id, item ->> 'id', item ->> 'benefit_id',
    item ->> 'benefit_type', coalesce(item -> 'benefit_metadata', '{}'),
    coalesce(item -> 'properties', '{}'), (item ->> 'granted_at')::timestamptz
  from jsonb_array_elements(state -> 'grants') as item;

  perform polar.record_billing_change(g.user_id, 'benefit_granted', g.grant_id,
    coalesce(g.granted_at, v_at),
    jsonb_build_object('benefit_id', g.benefit_id, 'benefit_type', g.benefit_type,
      'key', g.benefit_metadata ->> 'key'),
    'benefit_granted:' || g.grant_id || ':' || polar.change_key_time(g.granted_at))
  from public.polar_benefit_grants as g
  where g.user_id = apply_customer_state.user_id;

  perform polar.record_billing_change(apply_customer_state.user_id, 'benefit_revoked',
    old.grant_id, v_at,
    jsonb_build_object('benefit_id', old.benefit_id, 'benefit_type', old.benefit_type,
      'key', old.benefit_metadata ->> 'key'),
    'benefit_revoked:' || old.grant_id || ':' || polar.change_key_time(old.granted_at))
  from jsonb_to_recordset(v_previous) as old(
    grant_id text, benefit_id text, benefit_type text, benefit_metadata jsonb,
    granted_at timestamptz)
  where not exists (
    select 1 from public.polar_benefit_grants as g
    where g.user_id = apply_customer_state.user_id and g.grant_id = old.grant_id);

  delete from public.polar_meters as m where m.user_id = apply_customer_state.user_id;
  insert into public.polar_meters (user_id, meter_id, consumed_units, credited_units, balance)
  select apply_customer_state.user_id, item ->> 'meter_id', (item ->> 'consumed_units')::numeric,
    (item ->> 'credited_units')::numeric, (item ->> 'balance')::numeric
  from jsonb_array_elements(state -> 'meters') as item;
  return true;
end;
$$;

-- ----- polar.record_order ------------------------------------------------------------------------
-- An order event's change ({id, kind: order_paid | order_refunded, product_id,
-- subscription_id, total_amount, refunded_amount, currency, version}) as a billing change.
-- Returns whether it was new. Internal.
create function polar.record_order(user_id uuid, "order" jsonb) returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_kind text := "order" ->> 'kind';
begin
  if "order" ->> 'id' is null or "order" ->> 'version' is null
    or v_kind is null or v_kind not in ('order_paid', 'order_refunded') then
    raise exception 'order is missing required fields'
      using errcode = 'invalid_parameter_value';
  end if;
  return polar.record_billing_change(record_order.user_id, v_kind, "order" ->> 'id',
    ("order" ->> 'version')::timestamptz,
    jsonb_build_object('product_id', "order" ->> 'product_id',
      'subscription_id', "order" ->> 'subscription_id',
      'total_amount', "order" -> 'total_amount', 'refunded_amount', "order" -> 'refunded_amount',
      'currency', "order" ->> 'currency'),
    v_kind || ':' || ("order" ->> 'id') || case
      when v_kind = 'order_refunded' then ':' || coalesce("order" ->> 'refunded_amount', '')
      else ''
    end);
end;
$$;

comment on function polar.record_order(uuid, jsonb) is
  'Records an order.paid or order.refunded event as a billing change, once per order (and refunded amount). Internal.';
revoke all on function polar.record_order(uuid, jsonb) from public, anon, authenticated, service_role;

-- ----- polar.apply_change, replaced: order events ------------------------------------------------
-- Same contract as in 20261201000100_hardening.sql. New: a change with an `order` (order.paid,
-- order.refunded) records it as a billing change.
create or replace function polar.apply_change(user_id uuid, change jsonb) returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_customer_id text := change ->> 'customer_id';
  v_customer_version timestamptz := (change ->> 'customer_version')::timestamptz;
  v_verified boolean := lower(change ->> 'external_id') is not distinct from
    apply_change.user_id::text;
  v_rows integer;
  v_changed boolean;
begin
  if (change ->> 'customer_deleted')::boolean then
    v_changed := polar.end_customer_link(apply_change.user_id, v_customer_id, v_customer_version);
    update public.user_subscriptions as s
    set polar_customer_modified_at = v_customer_version
    where s.user_id = apply_change.user_id
      and s.polar_customer_id is null
      and (s.polar_customer_modified_at is null
        or s.polar_customer_modified_at < v_customer_version);
  else
    update public.user_subscriptions as s
    set polar_customer_id = v_customer_id,
        polar_customer_verified = v_verified
          or (s.polar_customer_verified and s.polar_customer_id = v_customer_id),
        polar_customer_modified_at = v_customer_version
    where s.user_id = apply_change.user_id
      and (s.polar_customer_modified_at is null
        or s.polar_customer_modified_at < v_customer_version);
    get diagnostics v_rows = row_count;
    v_changed := v_rows > 0;
    if v_verified then
      update public.user_subscriptions as s
      set polar_customer_verified = true
      where s.user_id = apply_change.user_id
        and s.polar_customer_id = v_customer_id
        and not s.polar_customer_verified;
      get diagnostics v_rows = row_count;
      v_changed := v_rows > 0 or v_changed;
    end if;
  end if;
  if jsonb_typeof(change -> 'subscription') = 'object' then
    v_changed := polar.apply_subscription(apply_change.user_id, v_customer_id,
      change -> 'subscription') or v_changed;
  end if;
  if jsonb_typeof(change -> 'state') = 'object' and exists (
    select 1 from public.user_subscriptions as s
    where s.user_id = apply_change.user_id and s.polar_customer_id = v_customer_id
  ) then
    v_changed := polar.apply_customer_state(apply_change.user_id, v_customer_id,
      change -> 'state') or v_changed;
  end if;
  if jsonb_typeof(change -> 'order') = 'object' then
    v_changed := polar.record_order(apply_change.user_id, change -> 'order') or v_changed;
  end if;
  perform polar.refresh_summary(apply_change.user_id);
  return v_changed;
end;
$$;
