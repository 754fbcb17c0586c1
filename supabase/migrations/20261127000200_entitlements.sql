-- =====================================================================================
-- entitlements: each user's whole Polar state (every subscription, the granted benefits,
-- the active meters), readable by that user only, and gates that RLS policies can call.
--
--   * public.polar_subscriptions: one row per subscription, each current by its own clock.
--   * public.polar_benefit_grants, public.polar_meters: what the latest Customer State
--     snapshot says, replaced whole by each newer snapshot.
--   * public.user_subscriptions keeps its role: the portal's polar_customer_id, and a
--     summary that shows a live subscription whenever the user has one.
--   * public.has_entitlement(key), public.has_active_subscription(product_id): gates.
--   * public.apply_polar_webhook(...): replaced; subscription events and Customer State
--     snapshots (customer.state_changed) go through polar.apply_subscription and
--     polar.apply_customer_state, which the sync path shares.
--
-- What is active now. A snapshot (built by Polar at `at`) lists the active and trialing
-- subscriptions. A subscription counts as active when its status is active or trialing
-- and either the latest applied snapshot listed it, or its own state is newer than that
-- snapshot (or no snapshot was ever applied). So an older snapshot cannot end a
-- subscription that started after it, and a subscription whose ending events were lost
-- stops counting as soon as a newer snapshot leaves it out.
-- =====================================================================================

-- ----- Tables -------------------------------------------------------------------------------
create table public.polar_subscriptions (
  id text primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  polar_customer_id text not null,
  product_id text,
  status text not null,
  current_period_start timestamptz,
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  trial_end timestamptz,
  canceled_at timestamptz,
  ended_at timestamptz,
  in_latest_state boolean not null default false,
  polar_modified_at timestamptz not null,
  updated_at timestamptz not null default now()
);

comment on table public.polar_subscriptions is
  'Every Polar subscription of each user, each kept current by its own modified_at.';
comment on column public.polar_subscriptions.in_latest_state is
  'Whether the latest applied Customer State listed it as active or trialing.';
comment on column public.polar_subscriptions.polar_modified_at is
  'Polar''s version of the state stored here (modified_at, else created_at); older states never overwrite it.';

create index polar_subscriptions_user_id_idx on public.polar_subscriptions (user_id);

create table public.polar_benefit_grants (
  user_id uuid not null references auth.users (id) on delete cascade,
  grant_id text not null,
  benefit_id text not null,
  benefit_type text not null,
  benefit_metadata jsonb not null default '{}',
  properties jsonb not null default '{}',
  granted_at timestamptz,
  primary key (user_id, grant_id)
);

comment on table public.polar_benefit_grants is
  'The benefits Polar has granted each user, as the latest Customer State lists them.';
comment on column public.polar_benefit_grants.benefit_metadata is
  'The benefit''s metadata; has_entitlement(key) matches its "key".';
comment on column public.polar_benefit_grants.properties is
  'The grant''s properties a user may see, such as a license key''s display_key.';

create index polar_benefit_grants_key_idx
  on public.polar_benefit_grants (user_id, (benefit_metadata ->> 'key'));
create index polar_benefit_grants_benefit_idx on public.polar_benefit_grants (user_id, benefit_id);

create table public.polar_meters (
  user_id uuid not null references auth.users (id) on delete cascade,
  meter_id text not null,
  consumed_units numeric not null,
  credited_units numeric not null,
  balance numeric not null,
  primary key (user_id, meter_id)
);

comment on table public.polar_meters is
  'Each user''s active Polar meters, as the latest Customer State lists them.';

alter table public.user_subscriptions add column polar_state_at timestamptz;
comment on column public.user_subscriptions.polar_state_at is
  'When Polar built the latest applied Customer State; older snapshots never overwrite it.';

-- The one subscription a row held before this migration becomes the first of many.
insert into public.polar_subscriptions (
  id, user_id, polar_customer_id, product_id, status, current_period_end,
  cancel_at_period_end, canceled_at, ended_at, polar_modified_at
)
select s.polar_subscription_id, s.user_id, s.polar_customer_id, s.product_id, s.status,
  s.current_period_end, s.cancel_at_period_end, s.canceled_at, s.ended_at, s.polar_modified_at
from public.user_subscriptions as s
where s.polar_subscription_id is not null
  and s.polar_customer_id is not null
  and s.status is not null
  and s.polar_modified_at is not null;

-- ----- Access: each user reads their own rows; only the service role writes ---------------
alter table public.polar_subscriptions enable row level security;
alter table public.polar_benefit_grants enable row level security;
alter table public.polar_meters enable row level security;

revoke all on table public.polar_subscriptions, public.polar_benefit_grants, public.polar_meters
  from public, anon, authenticated;
grant select on table public.polar_subscriptions, public.polar_benefit_grants, public.polar_meters
  to authenticated;
grant select, insert, update, delete
  on table public.polar_subscriptions, public.polar_benefit_grants, public.polar_meters
  to service_role;

-- Policy: a signed-in user sees their own subscriptions and no one else's.
create policy "Users can read their own Polar subscriptions"
  on public.polar_subscriptions for select to authenticated
  using ((select auth.uid()) = user_id);
-- Policy: a signed-in user sees their own granted benefits and no one else's.
create policy "Users can read their own benefit grants"
  on public.polar_benefit_grants for select to authenticated
  using ((select auth.uid()) = user_id);
-- Policy: a signed-in user sees their own meters and no one else's.
create policy "Users can read their own meters"
  on public.polar_meters for select to authenticated
  using ((select auth.uid()) = user_id);

-- ----- polar.is_active_now ------------------------------------------------------------------
-- Whether a subscription counts as active now, by the rule in the banner. Internal.
create function polar.is_active_now(
  status text,
  in_latest_state boolean,
  version timestamptz,
  state_at timestamptz
) returns boolean
language sql
immutable
security invoker
set search_path = ''
as $$
  select is_active_now.status in ('active', 'trialing')
    and (is_active_now.in_latest_state
      or is_active_now.state_at is null
      or is_active_now.version > is_active_now.state_at);
$$;

comment on function polar.is_active_now(text, boolean, timestamptz, timestamptz) is
  'Whether a subscription counts as active now: active or trialing, and listed by the latest snapshot or newer than it. Internal.';
revoke all on function polar.is_active_now(text, boolean, timestamptz, timestamptz)
  from public, anon, authenticated, service_role;

-- ----- polar.apply_subscription -----------------------------------------------------------
-- One subscription's state, by its own clock: written only when strictly newer than what
-- is stored. Returns whether it changed anything. The caller holds the user's row lock.
-- Internal.
create function polar.apply_subscription(user_id uuid, customer_id text, subscription jsonb)
returns boolean
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
    current_period_end, cancel_at_period_end, trial_end, canceled_at, ended_at,
    polar_modified_at
  )
  values (
    subscription ->> 'id',
    apply_subscription.user_id,
    apply_subscription.customer_id,
    subscription ->> 'product_id',
    subscription ->> 'status',
    (subscription ->> 'current_period_start')::timestamptz,
    (subscription ->> 'current_period_end')::timestamptz,
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

comment on function polar.apply_subscription(uuid, text, jsonb) is
  'Writes one subscription''s state when it is newer than the stored one. Internal.';
revoke all on function polar.apply_subscription(uuid, text, jsonb)
  from public, anon, authenticated, service_role;

-- ----- polar.apply_customer_state ---------------------------------------------------------
-- A Customer State snapshot, applied whole when it is newer than the latest applied one:
-- its subscriptions by their own clocks, which subscriptions it lists, and the grants and
-- meters replaced. Returns whether it was applied. The caller holds the user's row lock.
-- Internal.
create function polar.apply_customer_state(user_id uuid, customer_id text, state jsonb)
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

  delete from public.polar_benefit_grants as g where g.user_id = apply_customer_state.user_id;
  insert into public.polar_benefit_grants
    (user_id, grant_id, benefit_id, benefit_type, benefit_metadata, properties, granted_at)
  select apply_customer_state.user_id, item ->> 'id', item ->> 'benefit_id',
    item ->> 'benefit_type', coalesce(item -> 'benefit_metadata', '{}'),
    coalesce(item -> 'properties', '{}'), (item ->> 'granted_at')::timestamptz
  from jsonb_array_elements(state -> 'grants') as item;

  delete from public.polar_meters as m where m.user_id = apply_customer_state.user_id;
  insert into public.polar_meters (user_id, meter_id, consumed_units, credited_units, balance)
  select apply_customer_state.user_id, item ->> 'meter_id', (item ->> 'consumed_units')::numeric,
    (item ->> 'credited_units')::numeric, (item ->> 'balance')::numeric
  from jsonb_array_elements(state -> 'meters') as item;
  return true;
end;
$$;

comment on function polar.apply_customer_state(uuid, text, jsonb) is
  'Applies a Customer State snapshot when it is newer than the latest applied one. Internal.';
revoke all on function polar.apply_customer_state(uuid, text, jsonb)
  from public, anon, authenticated, service_role;

-- ----- polar.refresh_summary ----------------------------------------------------------------
-- Sets user_subscriptions' summary from the user's subscriptions: one that is active now
-- if there is one (the one that renews, then the latest period end), else one that has not
-- ended (past_due, unpaid, incomplete), else the most recently changed. Internal.
create function polar.refresh_summary(user_id uuid) returns void
language sql
volatile
security invoker
set search_path = ''
as $$
  update public.user_subscriptions as u
  set polar_subscription_id = best.id,
      status = best.status,
      product_id = best.product_id,
      current_period_end = best.current_period_end,
      cancel_at_period_end = best.cancel_at_period_end,
      canceled_at = best.canceled_at,
      ended_at = best.ended_at,
      polar_modified_at = best.polar_modified_at
  from (
    select s.*
    from public.polar_subscriptions as s
    join public.user_subscriptions as owner on owner.user_id = s.user_id
    where s.user_id = refresh_summary.user_id
    order by
      case
        when polar.is_active_now(s.status, s.in_latest_state, s.polar_modified_at,
          owner.polar_state_at) then 0
        when s.status in ('past_due', 'unpaid', 'incomplete') then 1
        else 2
      end,
      s.cancel_at_period_end,
      s.current_period_end desc nulls last,
      s.polar_modified_at desc,
      s.id
    limit 1
  ) as best
  where u.user_id = refresh_summary.user_id
    and (u.polar_subscription_id, u.status, u.product_id, u.current_period_end,
      u.cancel_at_period_end, u.canceled_at, u.ended_at, u.polar_modified_at)
      is distinct from (best.id, best.status, best.product_id, best.current_period_end,
      best.cancel_at_period_end, best.canceled_at, best.ended_at, best.polar_modified_at);
$$;

comment on function polar.refresh_summary(uuid) is
  'Sets the user_subscriptions summary from the user''s subscriptions, live ones first. Internal.';
revoke all on function polar.refresh_summary(uuid) from public, anon, authenticated, service_role;

-- ----- polar.apply_change -------------------------------------------------------------------
-- Applies one change (the format apply_polar_webhook documents) to a user already found by
-- the customer's external_id, holding their row lock: the customer link by the customer's
-- clock, the subscription by its own, the snapshot if newer, then the summary. Returns
-- whether anything changed. Shared by the webhook path and the pull path (sync). Internal.
create function polar.apply_change(user_id uuid, change jsonb) returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_customer_id text := change ->> 'customer_id';
  v_customer_version timestamptz := (change ->> 'customer_version')::timestamptz;
  v_rows integer;
  v_changed boolean;
begin
  if (change ->> 'customer_deleted')::boolean then
    update public.user_subscriptions as s
    set polar_customer_id = null,
        polar_customer_modified_at = v_customer_version
    where s.user_id = apply_change.user_id
      and (s.polar_customer_id is null or s.polar_customer_id = v_customer_id)
      and (s.polar_customer_modified_at is null
        or s.polar_customer_modified_at < v_customer_version);
  else
    update public.user_subscriptions as s
    set polar_customer_id = v_customer_id,
        polar_customer_modified_at = v_customer_version
    where s.user_id = apply_change.user_id
      and (s.polar_customer_modified_at is null
        or s.polar_customer_modified_at < v_customer_version);
  end if;
  get diagnostics v_rows = row_count;
  v_changed := v_rows > 0;
  if jsonb_typeof(change -> 'subscription') = 'object' then
    v_changed := polar.apply_subscription(apply_change.user_id, v_customer_id,
      change -> 'subscription') or v_changed;
  end if;
  if jsonb_typeof(change -> 'state') = 'object' then
    v_changed := polar.apply_customer_state(apply_change.user_id, v_customer_id,
      change -> 'state') or v_changed;
  end if;
  perform polar.refresh_summary(apply_change.user_id);
  return v_changed;
end;
$$;

comment on function polar.apply_change(uuid, jsonb) is
  'Applies one change to a user''s billing state by each object''s own clock; returns whether anything changed. Internal.';
revoke all on function polar.apply_change(uuid, jsonb) from public, anon, authenticated, service_role;

-- ----- Gates ------------------------------------------------------------------------------
-- Whether the calling user (auth.uid()) holds a granted benefit whose metadata "key", or
-- whose id, is `key`. False for anon and for users without a Polar customer. Security
-- definer so that it answers (false) for roles that cannot read the grants, such as anon in
-- an app's policy; it reads only the caller's own rows, so it tells nothing of others.
-- Use it as `using ((select public.has_entitlement('pro')))` so Postgres runs it once per
-- query, not once per row.
create function public.has_entitlement(key text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1
    from public.polar_benefit_grants as g
    where g.user_id = (select auth.uid())
      and (g.benefit_metadata ->> 'key' = has_entitlement.key
        or g.benefit_id = has_entitlement.key)
  );
$$;

comment on function public.has_entitlement(text) is
  'Whether the calling user holds a granted Polar benefit whose metadata key (or id) is `key`. For RLS policies and rpc().';

-- Whether the calling user has a subscription that is active now (active or trialing, by
-- the rule in the banner), of `product_id` when given. Same security reasoning as above.
create function public.has_active_subscription(product_id text default null) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1
    from public.polar_subscriptions as s
    join public.user_subscriptions as u on u.user_id = s.user_id
    where s.user_id = (select auth.uid())
      and polar.is_active_now(s.status, s.in_latest_state, s.polar_modified_at, u.polar_state_at)
      and (has_active_subscription.product_id is null
        or s.product_id = has_active_subscription.product_id)
  );
$$;

comment on function public.has_active_subscription(text) is
  'Whether the calling user has an active or trialing Polar subscription (of `product_id` when given). For RLS policies and rpc().';

revoke all on function public.has_entitlement(text), public.has_active_subscription(text)
  from public, anon, authenticated, service_role;
grant execute on function public.has_entitlement(text), public.has_active_subscription(text)
  to anon, authenticated, service_role;

-- ----- public.apply_polar_webhook, rebuilt ------------------------------------------------
-- Same contract, change format and idempotency as in 20261124000200_polar_webhooks.sql.
-- What changes:
--   * which user: the customer's external_id and nothing else (polar.identify); an event
--     it cannot place is recorded as skipped with the reason, and an identity conflict
--     (metadata.user_id disagreeing with external_id) makes the function's log line a
--     warning;
--   * the order of locks, for every writer: the delivery's key, then the user's row
--     (polar.lock_user_subscription), so a new subscriber's first events arriving at once
--     no longer collide on insert ... on conflict (unique violations, deadlocks);
--   * the change is applied by polar.apply_change: a subscription event writes its
--     subscription's own row, a customer.state_changed event applies its snapshot, and the
--     summary in user_subscriptions is derived from the user's subscriptions afterwards.
-- `change` may carry "state": { "at", "subscriptions": [...], "grants": [...], "meters": [...] }.
create or replace function public.apply_polar_webhook(
  webhook_id text,
  event_type text,
  event_timestamp timestamptz,
  change jsonb default null
) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_subscription jsonb := change -> 'subscription';
  v_state jsonb := change -> 'state';
  v_customer_id text := change ->> 'customer_id';
  v_customer_version timestamptz := (change ->> 'customer_version')::timestamptz;
  v_user_id uuid;
  v_rows integer;
  v_changed boolean;
  v_outcome text;
  v_reason text;
begin
  if apply_polar_webhook.webhook_id is null
    or apply_polar_webhook.event_type is null
    or apply_polar_webhook.event_timestamp is null then
    raise exception 'webhook_id, event_type and event_timestamp are required'
      using errcode = 'null_value_not_allowed';
  end if;
  if jsonb_typeof(v_subscription) = 'null' then
    v_subscription := null;
  end if;
  if jsonb_typeof(v_state) = 'null' then
    v_state := null;
  end if;
  if change is not null and (
    v_customer_id is null
    or v_customer_version is null
    or jsonb_typeof(change -> 'customer_deleted') is distinct from 'boolean'
    or (v_subscription is not null and (
      v_subscription ->> 'id' is null
      or v_subscription ->> 'status' is null
      or v_subscription ->> 'version' is null))
    or (v_state is not null and (
      v_state ->> 'at' is null
      or jsonb_typeof(v_state -> 'subscriptions') is distinct from 'array'
      or jsonb_typeof(v_state -> 'grants') is distinct from 'array'
      or jsonb_typeof(v_state -> 'meters') is distinct from 'array'
      or exists (
        select 1 from jsonb_array_elements(v_state -> 'subscriptions') as item
        where item ->> 'id' is null or item ->> 'status' is null or item ->> 'version' is null)))
  ) then
    raise exception 'change is missing required fields'
      using errcode = 'invalid_parameter_value';
  end if;

  -- Claim the delivery. 'stale' is provisional: it becomes the final outcome below.
  insert into polar.webhook_deliveries as d (webhook_id, event_type, event_timestamp, outcome)
  values (
    apply_polar_webhook.webhook_id,
    apply_polar_webhook.event_type,
    apply_polar_webhook.event_timestamp,
    case when change is null then 'ignored' else 'stale' end
  )
  on conflict on constraint webhook_deliveries_pkey do nothing;
  get diagnostics v_rows = row_count;
  if v_rows = 0 then
    return jsonb_build_object('outcome', 'duplicate');
  end if;
  if change is null then
    return jsonb_build_object('outcome', 'ignored');
  end if;

  select i.user_id, i.reason into v_user_id, v_reason from polar.identify(change) as i;
  if v_reason is not null then
    v_user_id := null;
  end if;

  if v_reason is not null then
    v_outcome := 'skipped';
  else
    perform polar.lock_user_subscription(v_user_id);
    v_changed := polar.apply_change(v_user_id, change);
    v_outcome := case when v_changed then 'applied' else 'stale' end;
  end if;

  update polar.webhook_deliveries as d
  set outcome = v_outcome,
      reason = v_reason,
      user_id = v_user_id,
      customer_id = v_customer_id,
      subscription_id = v_subscription ->> 'id'
  where d.webhook_id = apply_polar_webhook.webhook_id;

  return jsonb_strip_nulls(jsonb_build_object('outcome', v_outcome, 'reason', v_reason));
end;
$$;

comment on function public.apply_polar_webhook(text, text, timestamptz, jsonb) is
  'Applies one verified Polar webhook event (subscription, customer, or Customer State) once per webhook-id, linking by the customer''s external_id only and never letting an older state overwrite a newer one. Returns {outcome, reason?}. service_role only.';
