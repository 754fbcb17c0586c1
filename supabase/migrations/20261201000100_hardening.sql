-- =====================================================================================
-- hardening: what an attack on the billing state found (issue 17, G1 G2 G3 G7 G8).
--
--   * user_subscriptions.polar_customer_verified: whether the linked customer's external_id
--     is known to be the user's id. Only a verified link counts for the gates: a link the
--     previous version made from metadata.user_id (a customer without external_id) never
--     makes a subscription active or a benefit granted, whatever its rows say (G1).
--   * polar.identify (replaced): a change whose customer has no external_id belongs to the
--     user whose row stores that customer, so ending events (subscription.revoked,
--     customer.deleted, which Polar sends after clearing the external_id) still reach a
--     stored link instead of being skipped (G1, G2).
--   * polar.end_customer_link: a customer Polar deleted ends the link, its grants and its
--     meters in one transaction (G2); polar.apply_change and
--     public.unlink_missing_polar_customer (replaced) go through it.
--   * auth.users: a soft delete (deleted_at set) queues the customer's deletion like a hard
--     delete, once, and ends the link (G3); only rows actually deleted are queued, by AFTER
--     triggers (G7). polar.user_id_of and public.polar_known_users (replaced) skip
--     soft-deleted users.
--   * public.billing_state (replaced) reads only the caller's rows, whatever SELECT
--     policies an app adds (G8).
--   * public.polar_unverified_links(): the links the reconcile reports for link-customer.
--
-- Replaces, with the same signatures: polar.user_id_of and polar.identify (from
-- 20261127000100_identity.sql), polar.refresh_summary, polar.apply_change,
-- public.has_entitlement and public.has_active_subscription (from
-- 20261127000200_entitlements.sql), public.link_polar_customer (identity),
-- public.unlink_missing_polar_customer, public.billing_state, public.polar_known_users and
-- public.polar_unreconciled_users (from 20261127000300_sync.sql). Drops the BEFORE DELETE
-- trigger polar_record_customer_deletion and its function.
-- =====================================================================================

-- ----- Verified links ---------------------------------------------------------------------
alter table public.user_subscriptions
  add column polar_customer_verified boolean not null default false;
comment on column public.user_subscriptions.polar_customer_verified is
  'Whether polar_customer_id''s external_id is known to be this user''s id (checkout, link-customer, or a change that carried it). Only verified links count for the gates.';

-- A snapshot could only be applied through the customer's external_id, so a row that has
-- one is verified; every other link (the previous version's, from metadata.user_id) waits
-- for checkout, a pull, or link-customer to verify it.
update public.user_subscriptions as s
set polar_customer_verified = true
where s.polar_customer_id is not null and s.polar_state_at is not null;

-- What customer.deleted left behind before this migration: grants and meters of users
-- whose link it had cleared.
delete from public.polar_benefit_grants as g
where not exists (
  select 1 from public.user_subscriptions as s
  where s.user_id = g.user_id and s.polar_customer_id is not null);
delete from public.polar_meters as m
where not exists (
  select 1 from public.user_subscriptions as s
  where s.user_id = m.user_id and s.polar_customer_id is not null);

-- ----- polar.user_id_of, replaced: a soft-deleted user is no user --------------------------
create or replace function polar.user_id_of(external_id text) returns uuid
language sql
stable
security invoker
set search_path = ''
as $$
  select u.id
  from auth.users as u
  where user_id_of.external_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    and u.id = user_id_of.external_id::uuid
    and u.deleted_at is null;
$$;

-- ----- polar.identify, replaced: the stored link places a customer without external_id -------
-- As before, plus: a customer without external_id whose id a live user's row stores belongs
-- to that user. Only the server stores links (checkout and link-customer after checking the
-- external_id with Polar, or the previous version), so this never links anything new; and
-- polar.apply_change never verifies a link through it. metadata is not read on this path.
create or replace function polar.identify(change jsonb, out user_id uuid, out reason text)
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  if change ->> 'external_id' is null then
    select s.user_id into identify.user_id
    from public.user_subscriptions as s
    join auth.users as u on u.id = s.user_id and u.deleted_at is null
    where s.polar_customer_id = change ->> 'customer_id';
    if identify.user_id is null then
      reason := 'customer has no external_id';
    end if;
  elsif change ->> 'metadata_user_id' is not null
    and lower(change ->> 'metadata_user_id') <> lower(change ->> 'external_id') then
    reason := 'identity conflict';
  else
    user_id := polar.user_id_of(change ->> 'external_id');
    if user_id is null then
      reason := 'no user matches external_id';
    elsif exists (
      select 1 from public.user_subscriptions as s
      where s.polar_customer_id = change ->> 'customer_id' and s.user_id <> identify.user_id
    ) then
      reason := 'customer is linked to another user';
    end if;
  end if;
end;
$$;

-- ----- polar.end_customer_link --------------------------------------------------------------
-- The user's customer is gone (Polar deleted it, or no longer knows it): clears the link if
-- it still points at `customer_id`, and with it the grants and meters, which were that
-- customer's; its subscriptions stop counting because they no longer match the link. Moves
-- the customer clock to `version` so an older event of that customer stays stale. Returns
-- whether the link was cleared. The caller holds the user's row lock. Internal.
create function polar.end_customer_link(
  user_id uuid,
  customer_id text,
  version timestamptz default null
) returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_rows integer;
begin
  update public.user_subscriptions as s
  set polar_customer_id = null,
      polar_customer_verified = false,
      polar_customer_modified_at = greatest(s.polar_customer_modified_at,
        end_customer_link.version)
  where s.user_id = end_customer_link.user_id
    and s.polar_customer_id = end_customer_link.customer_id;
  get diagnostics v_rows = row_count;
  if v_rows = 0 then
    return false;
  end if;
  delete from public.polar_benefit_grants as g where g.user_id = end_customer_link.user_id;
  delete from public.polar_meters as m where m.user_id = end_customer_link.user_id;
  return true;
end;
$$;

comment on function polar.end_customer_link(uuid, text, timestamptz) is
  'Clears a link to a customer that is gone, with its grants and meters. Internal.';
revoke all on function polar.end_customer_link(uuid, text, timestamptz)
  from public, anon, authenticated, service_role;

-- ----- polar.refresh_summary, replaced: only a verified link's subscriptions rank as live ----
create or replace function polar.refresh_summary(user_id uuid) returns void
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
        when owner.polar_customer_verified
          and s.polar_customer_id = owner.polar_customer_id
          and polar.is_active_now(s.status, s.in_latest_state, s.polar_modified_at,
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

-- ----- polar.apply_change, replaced --------------------------------------------------------
-- As before, and:
--   * a change that carries the user's id as external_id verifies the link to its customer;
--     one placed through the stored link (no external_id) never does;
--   * customer.deleted ends the link with its grants and meters (polar.end_customer_link);
--   * a snapshot applies only to the customer the user is linked to after the link update, so
--     a late snapshot of a deleted or replaced customer cannot bring its grants back.
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
  perform polar.refresh_summary(apply_change.user_id);
  return v_changed;
end;
$$;

-- ----- Gates, replaced: a verified link's rows only ------------------------------------------
-- Same contract as in 20261127000200_entitlements.sql; what is new is that the caller's link
-- must be verified: a legacy link, or a customer that is gone, grants nothing.
create or replace function public.has_entitlement(key text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1
    from public.polar_benefit_grants as g
    join public.user_subscriptions as u on u.user_id = g.user_id
    where g.user_id = (select auth.uid())
      and u.polar_customer_verified
      and u.polar_customer_id is not null
      and (g.benefit_metadata ->> 'key' = has_entitlement.key
        or g.benefit_id = has_entitlement.key)
  );
$$;

create or replace function public.has_active_subscription(product_id text default null)
returns boolean
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
      and u.polar_customer_verified
      and s.polar_customer_id = u.polar_customer_id
      and polar.is_active_now(s.status, s.in_latest_state, s.polar_modified_at, u.polar_state_at)
      and (has_active_subscription.product_id is null
        or s.product_id = has_active_subscription.product_id)
  );
$$;

-- ----- public.link_polar_customer, replaced: a verified link is marked so --------------------
-- Same contract as in 20261127000100_identity.sql. What is new: the link it stores is
-- verified, and re-linking the customer a row already holds verifies it (the operator's fix
-- for a legacy link: link-customer sets the external_id in Polar, then calls this), answered
-- 'linked' because the gates now count it; 'unchanged' only when nothing changes.
create or replace function public.link_polar_customer(
  user_id uuid,
  customer_id text,
  external_id text,
  customer_version timestamptz,
  dry_run boolean default false
) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_current record;
begin
  if link_polar_customer.user_id is null
    or link_polar_customer.customer_id is null
    or link_polar_customer.customer_version is null then
    raise exception 'user_id, customer_id and customer_version are required'
      using errcode = 'null_value_not_allowed';
  end if;
  if link_polar_customer.external_id is null
    or lower(link_polar_customer.external_id) <> link_polar_customer.user_id::text then
    return jsonb_build_object('outcome', 'refused', 'reason', 'identity conflict');
  end if;
  if polar.user_id_of(link_polar_customer.external_id) is null then
    return jsonb_build_object('outcome', 'refused', 'reason', 'no such user');
  end if;
  if exists (
    select 1 from public.user_subscriptions as s
    where s.polar_customer_id = link_polar_customer.customer_id
      and s.user_id <> link_polar_customer.user_id
  ) then
    return jsonb_build_object('outcome', 'refused', 'reason', 'customer is linked to another user');
  end if;
  if not dry_run then
    perform polar.lock_user_subscription(link_polar_customer.user_id);
  end if;

  select s.polar_customer_id, s.polar_customer_verified into v_current
  from public.user_subscriptions as s
  where s.user_id = link_polar_customer.user_id;
  if v_current.polar_customer_id is not distinct from link_polar_customer.customer_id
    and v_current.polar_customer_verified then
    return jsonb_build_object('outcome', 'unchanged');
  end if;
  if not dry_run then
    update public.user_subscriptions as s
    set polar_customer_id = link_polar_customer.customer_id,
        polar_customer_verified = true,
        polar_customer_modified_at = greatest(
          s.polar_customer_modified_at, link_polar_customer.customer_version)
    where s.user_id = link_polar_customer.user_id;
    perform polar.refresh_summary(link_polar_customer.user_id);
  end if;
  return jsonb_build_object('outcome', 'linked');
end;
$$;

-- ----- public.unlink_missing_polar_customer, replaced: through polar.end_customer_link ---------
create or replace function public.unlink_missing_polar_customer(user_id uuid, customer_id text)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_cleared boolean;
begin
  perform polar.lock_user_subscription(unlink_missing_polar_customer.user_id);
  v_cleared := polar.end_customer_link(unlink_missing_polar_customer.user_id,
    unlink_missing_polar_customer.customer_id);
  update public.user_subscriptions as s
  set polar_reconciled_at = now()
  where s.user_id = unlink_missing_polar_customer.user_id;
  perform polar.refresh_summary(unlink_missing_polar_customer.user_id);
  return v_cleared;
end;
$$;

comment on function public.unlink_missing_polar_customer(uuid, text) is
  'Clears a link to a customer Polar no longer has, with its grants and meters. service_role only.';

-- ----- public.billing_state, replaced: the caller's rows only -------------------------------
-- Still security invoker (RLS applies), and now also filtered by auth.uid() in every part,
-- so an app's extra SELECT policy (support staff, team admins) never mixes other users'
-- rows into "my" state. Entitlements are the keys has_entitlement answers true for.
create or replace function public.billing_state() returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  with me as (select auth.uid() as id)
  select jsonb_build_object(
    'polar_customer_id', (
      select u.polar_customer_id from public.user_subscriptions as u, me
      where u.user_id = me.id),
    'subscription', (
      select jsonb_build_object('id', u.polar_subscription_id, 'status', u.status,
        'product_id', u.product_id, 'current_period_end', u.current_period_end,
        'cancel_at_period_end', u.cancel_at_period_end)
      from public.user_subscriptions as u, me
      where u.user_id = me.id and u.polar_subscription_id is not null),
    'subscriptions', coalesce((
      select jsonb_agg(jsonb_build_object('id', s.id, 'product_id', s.product_id,
        'status', s.status, 'current_period_end', s.current_period_end,
        'cancel_at_period_end', s.cancel_at_period_end) order by s.id)
      from public.polar_subscriptions as s, me
      where s.user_id = me.id), '[]'),
    'entitlements', coalesce((
      select jsonb_agg(distinct g.benefit_metadata ->> 'key')
      from public.polar_benefit_grants as g
      join public.user_subscriptions as u on u.user_id = g.user_id, me
      where g.user_id = me.id and u.polar_customer_verified and u.polar_customer_id is not null
        and g.benefit_metadata ->> 'key' is not null),
      '[]'),
    'meters', coalesce((
      select jsonb_agg(jsonb_build_object('meter_id', m.meter_id, 'balance', m.balance)
        order by m.meter_id)
      from public.polar_meters as m, me
      where m.user_id = me.id), '[]'),
    'has_active_subscription', public.has_active_subscription()
  );
$$;

-- ----- Reconcile helpers, replaced: soft-deleted users are gone ------------------------------
create or replace function public.polar_known_users(ids text[]) returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select u.id from auth.users as u
  where u.id::text = any (select lower(x) from unnest(ids) as x)
    and u.deleted_at is null;
$$;

create or replace function public.polar_unreconciled_users(
  since timestamptz,
  max_rows integer default 100
) returns table (user_id uuid, polar_customer_id text)
language sql
stable
security definer
set search_path = ''
as $$
  select s.user_id, s.polar_customer_id
  from public.user_subscriptions as s
  join auth.users as u on u.id = s.user_id and u.deleted_at is null
  where s.polar_customer_id is not null
    and (s.polar_reconciled_at is null or s.polar_reconciled_at < since)
  order by s.user_id
  limit max_rows;
$$;

-- ----- public.polar_unverified_links ------------------------------------------------------------
-- Live users linked to a customer whose external_id is not known to be theirs (the previous
-- version's links from metadata.user_id): none of it counts until the operator runs
-- `deno task link-customer --user <user_id> --customer <polar_customer_id>`. service_role only.
create function public.polar_unverified_links()
returns table (user_id uuid, polar_customer_id text)
language sql
stable
security definer
set search_path = ''
as $$
  select s.user_id, s.polar_customer_id
  from public.user_subscriptions as s
  join auth.users as u on u.id = s.user_id and u.deleted_at is null
  where s.polar_customer_id is not null and not s.polar_customer_verified
  order by s.user_id;
$$;

comment on function public.polar_unverified_links() is
  'Users linked to a customer whose external_id is not verified to be theirs; fix each with link-customer. service_role only.';

revoke all on function public.polar_unverified_links() from public, anon, authenticated;
grant execute on function public.polar_unverified_links() to service_role;

-- ----- Account deletion: soft deletes, and only rows really deleted -------------------------
-- One outbox row per user, whichever way they went (a soft delete, then a hard delete, queue
-- one deletion).
create unique index customer_deletions_user_id_key on polar.customer_deletions (user_id);

-- Queues the customer deletion for a user, with the customer their row links if any (a
-- later call may only fill in a customer the first did not know). Internal.
create function polar.queue_customer_deletion(user_id uuid, customer_id text) returns void
language sql
volatile
security invoker
set search_path = ''
as $$
  insert into polar.customer_deletions as d (user_id, polar_customer_id)
  values (queue_customer_deletion.user_id, queue_customer_deletion.customer_id)
  on conflict (user_id) do update
    set polar_customer_id = coalesce(d.polar_customer_id, excluded.polar_customer_id)
    where d.completed_at is null and d.polar_customer_id is null;
$$;

revoke all on function polar.queue_customer_deletion(uuid, text)
  from public, anon, authenticated, service_role;

drop trigger polar_record_customer_deletion on auth.users;
drop function polar.record_customer_deletion();

-- Trigger function (AFTER DELETE on auth.users): the user is gone for good. Runs only when
-- the row was deleted, so an app trigger that cancels the delete cancels this too. The
-- customer id comes from the user_subscriptions row, whose cascade delete may run before or
-- after this trigger: polar.record_deleted_link fills it in either way.
create function polar.record_deleted_user() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform polar.queue_customer_deletion(old.id,
    (select s.polar_customer_id from public.user_subscriptions as s where s.user_id = old.id));
  return null;
end;
$$;

revoke all on function polar.record_deleted_user() from public, anon, authenticated, service_role;

create trigger polar_record_deleted_user
  after delete on auth.users
  for each row execute function polar.record_deleted_user();

-- Trigger function (AFTER DELETE on user_subscriptions): when the row goes because its user
-- was deleted (the foreign key's cascade), queue that user's customer. A row deleted while its
-- user still exists queues nothing.
create function polar.record_deleted_link() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (select 1 from auth.users as u where u.id = old.user_id) then
    perform polar.queue_customer_deletion(old.user_id, old.polar_customer_id);
  end if;
  return null;
end;
$$;

revoke all on function polar.record_deleted_link() from public, anon, authenticated, service_role;

create trigger polar_record_deleted_link
  after delete on public.user_subscriptions
  for each row execute function polar.record_deleted_link();

-- Trigger function (AFTER UPDATE OF deleted_at on auth.users): a soft delete
-- (auth.admin.deleteUser(id, true)) queues the customer deletion like a hard delete and ends
-- the link with its grants and meters now, so nothing of it counts while Polar is asked.
create function polar.record_soft_deleted_user() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_customer_id text;
begin
  select s.polar_customer_id into v_customer_id
  from public.user_subscriptions as s where s.user_id = new.id for update;
  perform polar.queue_customer_deletion(new.id, v_customer_id);
  if v_customer_id is not null then
    perform polar.end_customer_link(new.id, v_customer_id);
    perform polar.refresh_summary(new.id);
  end if;
  return null;
end;
$$;

revoke all on function polar.record_soft_deleted_user()
  from public, anon, authenticated, service_role;

create trigger polar_record_soft_deleted_user
  after update of deleted_at on auth.users
  for each row when (old.deleted_at is null and new.deleted_at is not null)
  execute function polar.record_soft_deleted_user();
