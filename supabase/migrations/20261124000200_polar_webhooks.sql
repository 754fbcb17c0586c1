-- =====================================================================================
-- polar_webhooks: what the polar-webhooks function needs to keep user_subscriptions
-- true to Polar, which delivers at least once, retries, and does not promise order.
--
--   * polar.webhook_deliveries: every verified delivery, by webhook-id, so a redelivery
--     changes nothing. In schema polar, which the API does not expose.
--   * public.apply_polar_webhook(...): applies one event in one transaction; the only
--     way the function writes. Executable by service_role only.
-- =====================================================================================

-- ----- user_subscriptions: a second clock, and the subscription's end -----------------
-- Customer events and subscription events describe two different Polar objects, each
-- with its own modified_at. One clock for both would let a customer edit (a new email)
-- hide a genuinely newer subscription state, or the other way round, so the customer
-- link keeps its own clock.
alter table public.user_subscriptions
  add column polar_customer_modified_at timestamptz,
  add column canceled_at timestamptz,
  add column ended_at timestamptz;

comment on column public.user_subscriptions.polar_customer_modified_at is
  'Polar''s modification time of the customer behind polar_customer_id (or of its deletion); older customer data never overwrites it.';
comment on column public.user_subscriptions.canceled_at is
  'When the subscription was canceled; it may stay active until current_period_end.';
comment on column public.user_subscriptions.ended_at is
  'When the subscription ended (revoked, or canceled and past its period); the row is kept.';

-- ----- Schema polar: tables no API client reads ---------------------------------------
create schema if not exists polar;
comment on schema polar is
  'Polar webhook bookkeeping. Not exposed through the API; written only by public.apply_polar_webhook.';
revoke all on schema polar from public, anon, authenticated;

-- ----- polar.webhook_deliveries -------------------------------------------------------
create table polar.webhook_deliveries (
  webhook_id text primary key,
  event_type text not null,
  event_timestamp timestamptz not null,
  customer_id text,
  subscription_id text,
  user_id uuid references auth.users (id) on delete set null,
  outcome text not null check (outcome in ('applied', 'stale', 'skipped', 'ignored')),
  reason text,
  received_at timestamptz not null default now()
);

comment on table polar.webhook_deliveries is
  'One row per verified Polar webhook delivery (webhook-id): the idempotency key, and an audit of what each event did.';
comment on column polar.webhook_deliveries.outcome is
  'applied: changed user_subscriptions; stale: older than what is stored; skipped: maps to no user (see reason); ignored: an event type we do not use.';

-- Deleting a user sets user_id to null here; without an index that is a scan per user.
create index webhook_deliveries_user_id_idx on polar.webhook_deliveries (user_id);

alter table polar.webhook_deliveries enable row level security;
-- No policies: no API role may read or write a delivery. The apply function runs as its
-- owner (see below), which is not subject to these grants.
revoke all on table polar.webhook_deliveries from public, anon, authenticated, service_role;

-- ----- public.apply_polar_webhook ------------------------------------------------------
-- Applies one verified Polar event, in the caller's transaction (one PostgREST call is one
-- transaction). `change` is the event reduced to what the table stores, by the function's
-- _shared/polar_webhooks.ts; null for an event type we do not use:
--   { "customer_id": text, "external_id": text|null, "metadata_user_id": text|null,
--     "customer_version": timestamptz, "customer_deleted": boolean,
--     "subscription": null | { "id", "status", "product_id", "current_period_end",
--       "cancel_at_period_end", "canceled_at", "ended_at", "version" } }
--
-- Idempotency: the delivery is claimed first with insert ... on conflict do nothing on its
-- primary key. A redelivery finds the row and returns 'duplicate' without touching
-- anything; a concurrent delivery of the same event waits on the key until the first
-- commits (then is a duplicate) or rolls back (then applies it itself): one effect.
--
-- Which user: the customer's external_id (the Supabase user id, set by checkout), else the
-- subscription's metadata.user_id, each only if it is an existing auth.users id; else the
-- user already linked to this customer. No user, or a customer already linked to another
-- user: recorded as 'skipped' with the reason, answered 2xx, so Polar stops retrying.
--
-- Staleness rule. A version is the object's modified_at, else its created_at (Polar leaves
-- modified_at null until the first change, so created_at is the time of that state), else
-- the event's timestamp; a deletion's version is the later of modified_at and deleted_at.
-- The row holds two objects, each compared only with its own clock:
--   * the customer link (polar_customer_id) against polar_customer_modified_at, from
--     customer.* events and from the customer embedded in every subscription event. A
--     deletion clears the link only if it is still this customer, and leaves its version
--     behind as a tombstone, so a late customer.created cannot bring the link back.
--   * the subscription fields against polar_modified_at, from subscription.* events.
-- A part changes only when the incoming version is strictly newer than the stored one
-- (null counts as older than anything); equal versions are the same state. One more rule,
-- because the row holds one subscription per user: an ended subscription (canceled,
-- unpaid, incomplete_expired) never replaces a different subscription that has not ended.
-- Each part is one insert ... on conflict do update ... where <newer>, which Postgres
-- re-checks under the row lock, so concurrent events for one user cannot lose an update.
--
-- Security definer: it must read auth.users and write polar.webhook_deliveries, which no
-- API role may touch directly; only service_role may execute it.
create function public.apply_polar_webhook(
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
  v_customer_id text := change ->> 'customer_id';
  v_customer_version timestamptz := (change ->> 'customer_version')::timestamptz;
  v_candidate text;
  v_user_id uuid;
  v_holder uuid;
  v_rows integer;
  v_changed boolean := false;
  v_outcome text;
  v_reason text;
begin
  if apply_polar_webhook.webhook_id is null
    or apply_polar_webhook.event_type is null
    or apply_polar_webhook.event_timestamp is null then
    raise exception 'webhook_id, event_type and event_timestamp are required'
      using errcode = 'null_value_not_allowed';
  end if;
  if change is not null and (
    v_customer_id is null
    or v_customer_version is null
    or jsonb_typeof(change -> 'customer_deleted') is distinct from 'boolean'
    or (v_subscription is not null and jsonb_typeof(v_subscription) <> 'null' and (
      v_subscription ->> 'id' is null
      or v_subscription ->> 'status' is null
      or v_subscription ->> 'version' is null))
  ) then
    raise exception 'change is missing required fields'
      using errcode = 'invalid_parameter_value';
  end if;
  if jsonb_typeof(v_subscription) = 'null' then
    v_subscription := null;
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

  -- Which user.
  foreach v_candidate in array array[change ->> 'external_id', change ->> 'metadata_user_id'] loop
    continue when v_candidate is null
      or v_candidate !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
    select u.id into v_user_id from auth.users as u where u.id = v_candidate::uuid;
    exit when v_user_id is not null;
  end loop;
  select s.user_id into v_holder
  from public.user_subscriptions as s
  where s.polar_customer_id = v_customer_id;
  if v_user_id is null then
    v_user_id := v_holder;
  end if;

  if v_user_id is null then
    v_outcome := 'skipped';
    v_reason := case
      when change ->> 'external_id' is null and change ->> 'metadata_user_id' is null
        then 'customer has no external_id and no metadata.user_id'
      else 'no user matches external_id or metadata.user_id'
    end;
  elsif v_holder is not null and v_holder <> v_user_id then
    v_outcome := 'skipped';
    v_reason := 'customer is linked to another user';
  else
    -- The customer link, by the customer's clock.
    if (change ->> 'customer_deleted')::boolean then
      insert into public.user_subscriptions as s
        (user_id, polar_customer_id, polar_customer_modified_at)
      values (v_user_id, null, v_customer_version)
      on conflict (user_id) do update
        set polar_customer_id = null,
            polar_customer_modified_at = excluded.polar_customer_modified_at
        where (s.polar_customer_id is null or s.polar_customer_id = v_customer_id)
          and (s.polar_customer_modified_at is null
            or s.polar_customer_modified_at < excluded.polar_customer_modified_at);
    else
      insert into public.user_subscriptions as s
        (user_id, polar_customer_id, polar_customer_modified_at)
      values (v_user_id, v_customer_id, v_customer_version)
      on conflict (user_id) do update
        set polar_customer_id = excluded.polar_customer_id,
            polar_customer_modified_at = excluded.polar_customer_modified_at
        where s.polar_customer_modified_at is null
          or s.polar_customer_modified_at < excluded.polar_customer_modified_at;
    end if;
    get diagnostics v_rows = row_count;
    v_changed := v_rows > 0;

    -- The subscription, by the subscription's clock.
    if v_subscription is not null then
      insert into public.user_subscriptions as s (
        user_id, polar_subscription_id, status, product_id, current_period_end,
        cancel_at_period_end, canceled_at, ended_at, polar_modified_at
      )
      values (
        v_user_id,
        v_subscription ->> 'id',
        v_subscription ->> 'status',
        v_subscription ->> 'product_id',
        (v_subscription ->> 'current_period_end')::timestamptz,
        coalesce((v_subscription ->> 'cancel_at_period_end')::boolean, false),
        (v_subscription ->> 'canceled_at')::timestamptz,
        (v_subscription ->> 'ended_at')::timestamptz,
        (v_subscription ->> 'version')::timestamptz
      )
      on conflict (user_id) do update
        set polar_subscription_id = excluded.polar_subscription_id,
            status = excluded.status,
            product_id = excluded.product_id,
            current_period_end = excluded.current_period_end,
            cancel_at_period_end = excluded.cancel_at_period_end,
            canceled_at = excluded.canceled_at,
            ended_at = excluded.ended_at,
            polar_modified_at = excluded.polar_modified_at
        where (s.polar_modified_at is null or s.polar_modified_at < excluded.polar_modified_at)
          and (s.polar_subscription_id is null
            or s.polar_subscription_id = excluded.polar_subscription_id
            or excluded.status not in ('canceled', 'unpaid', 'incomplete_expired')
            or s.status in ('canceled', 'unpaid', 'incomplete_expired'));
      get diagnostics v_rows = row_count;
      v_changed := v_changed or v_rows > 0;
    end if;
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
  'Applies one verified Polar webhook event to user_subscriptions, once per webhook-id, never letting an older state overwrite a newer one. Returns {outcome, reason?}. service_role only.';

revoke all on function public.apply_polar_webhook(text, text, timestamptz, jsonb)
  from public, anon, authenticated;
grant execute on function public.apply_polar_webhook(text, text, timestamptz, jsonb)
  to service_role;
