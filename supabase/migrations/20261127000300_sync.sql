-- =====================================================================================
-- sync: the pull path that keeps billing state true when webhooks are lost, and the
-- outbox that ends a deleted user's billing in Polar.
--
--   * public.claim_polar_sync(user_id, min_interval): at most one pull per user per
--     interval, across every instance of the sync function.
--   * public.apply_polar_state(user_id, change): a pulled Customer State, through the same
--     identity rule and polar.apply_change as the webhooks, so a pulled snapshot never
--     overwrites a newer webhook snapshot, nor the reverse.
--   * public.billing_state(): the caller's own state as JSON, read under RLS.
--   * polar.customer_deletions: one row per deleted auth.users row, written in the deleting
--     transaction; the sync function deletes the customer in Polar and marks it done.
--   * polar.reconcile_runs: where the operator's reconcile run is, so a run cut short by the
--     edge runtime's wall-clock limit resumes at the page it reached.
-- =====================================================================================

alter table public.user_subscriptions
  add column polar_synced_at timestamptz,
  add column polar_reconciled_at timestamptz;
comment on column public.user_subscriptions.polar_synced_at is
  'When the sync function last pulled this user''s Customer State for them (its rate limit).';
comment on column public.user_subscriptions.polar_reconciled_at is
  'When a reconcile run last checked this user against Polar.';

-- ----- public.claim_polar_sync ------------------------------------------------------------
-- Whether the sync function may call Polar for this user now: true at most once per
-- `min_interval`, also when several instances ask at the same time (the update re-checks
-- the condition under the row lock). Creates the user's row if needed. service_role only.
create function public.claim_polar_sync(user_id uuid, min_interval interval) returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_rows integer;
begin
  if polar.user_id_of(claim_polar_sync.user_id::text) is null then
    return false;
  end if;
  insert into public.user_subscriptions as s (user_id, polar_synced_at)
  values (claim_polar_sync.user_id, now())
  on conflict on constraint user_subscriptions_pkey do update
    set polar_synced_at = now()
    where s.polar_synced_at is null or s.polar_synced_at <= now() - min_interval;
  get diagnostics v_rows = row_count;
  return v_rows > 0;
end;
$$;

comment on function public.claim_polar_sync(uuid, interval) is
  'True when the user''s Customer State may be pulled now (at most once per min_interval). service_role only.';

-- ----- polar.billing_fingerprint ------------------------------------------------------------
-- A digest of what a user is entitled to: the link and summary, every subscription, the
-- grants and the meters. Two equal digests mean nothing a user or a gate can see changed.
-- Internal.
create function polar.billing_fingerprint(user_id uuid) returns text
language sql
stable
security invoker
set search_path = ''
as $$
  select md5(jsonb_build_array(
    (select to_jsonb(u) - 'updated_at' - 'polar_state_at' - 'polar_synced_at'
      - 'polar_reconciled_at' - 'polar_customer_modified_at'
      from public.user_subscriptions as u where u.user_id = billing_fingerprint.user_id),
    (select jsonb_agg(to_jsonb(s) - 'updated_at' order by s.id)
      from public.polar_subscriptions as s where s.user_id = billing_fingerprint.user_id),
    (select jsonb_agg(to_jsonb(g) order by g.grant_id)
      from public.polar_benefit_grants as g where g.user_id = billing_fingerprint.user_id),
    (select jsonb_agg(to_jsonb(m) order by m.meter_id)
      from public.polar_meters as m where m.user_id = billing_fingerprint.user_id)
  )::text);
$$;

comment on function polar.billing_fingerprint(uuid) is
  'A digest of what a user is entitled to, to tell whether a change changed anything. Internal.';
revoke all on function polar.billing_fingerprint(uuid) from public, anon, authenticated, service_role;

-- ----- public.apply_polar_state -------------------------------------------------------------
-- Applies a pulled change (a Customer State in apply_polar_webhook's change format, its
-- "state.at" the time the pull was sent) for `user_id`, which must be the user the change's
-- customer names by external_id. Returns {outcome: applied | stale | skipped, reason?,
-- changed}: applied when its clock was newer, changed when that altered what the user is
-- entitled to (a newer snapshot that says the same is applied but not changed).
-- Marks the user as reconciled now. service_role only.
create function public.apply_polar_state(user_id uuid, change jsonb) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_user_id uuid;
  v_reason text;
  v_applied boolean;
  v_before text;
begin
  if change ->> 'customer_id' is null
    or change ->> 'customer_version' is null
    or jsonb_typeof(change -> 'customer_deleted') is distinct from 'boolean'
    or jsonb_typeof(change -> 'state') is distinct from 'object'
    or change -> 'state' ->> 'at' is null then
    raise exception 'change is missing required fields'
      using errcode = 'invalid_parameter_value';
  end if;
  select i.user_id, i.reason into v_user_id, v_reason from polar.identify(change) as i;
  if v_reason is null and v_user_id is distinct from apply_polar_state.user_id then
    v_reason := 'identity conflict';
  end if;
  if v_reason is not null then
    return jsonb_build_object('outcome', 'skipped', 'reason', v_reason);
  end if;
  perform polar.lock_user_subscription(v_user_id);
  v_before := polar.billing_fingerprint(v_user_id);
  v_applied := polar.apply_change(v_user_id, change);
  update public.user_subscriptions as s
  set polar_reconciled_at = now()
  where s.user_id = v_user_id;
  return jsonb_build_object(
    'outcome', case when v_applied then 'applied' else 'stale' end,
    'changed', v_before is distinct from polar.billing_fingerprint(v_user_id));
end;
$$;

comment on function public.apply_polar_state(uuid, jsonb) is
  'Applies a pulled Customer State by the same rules as the webhooks. Returns {outcome, reason?}. service_role only.';

-- ----- public.unlink_missing_polar_customer --------------------------------------------------
-- Polar no longer has a customer for this user (deleted, and its customer.deleted lost):
-- clears the link if it still points at `customer_id`, as customer.deleted would. Marks the
-- user as reconciled. Returns whether the link was cleared. service_role only.
create function public.unlink_missing_polar_customer(user_id uuid, customer_id text)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_rows integer;
begin
  perform polar.lock_user_subscription(unlink_missing_polar_customer.user_id);
  update public.user_subscriptions as s
  set polar_customer_id = null,
      polar_reconciled_at = now()
  where s.user_id = unlink_missing_polar_customer.user_id
    and s.polar_customer_id = unlink_missing_polar_customer.customer_id;
  get diagnostics v_rows = row_count;
  update public.user_subscriptions as s
  set polar_reconciled_at = now()
  where s.user_id = unlink_missing_polar_customer.user_id;
  return v_rows > 0;
end;
$$;

comment on function public.unlink_missing_polar_customer(uuid, text) is
  'Clears a link to a customer Polar no longer has. service_role only.';

-- ----- public.billing_state ---------------------------------------------------------------
-- The calling user's billing state, read with their own rights (RLS decides): the link,
-- the summary, every subscription, the entitlement keys, the meters, and the gates'
-- answers. For the sync function's answer and for apps (supabase.rpc('billing_state')).
create function public.billing_state() returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select jsonb_build_object(
    'polar_customer_id', (select u.polar_customer_id from public.user_subscriptions as u),
    'subscription', (
      select jsonb_build_object('id', u.polar_subscription_id, 'status', u.status,
        'product_id', u.product_id, 'current_period_end', u.current_period_end,
        'cancel_at_period_end', u.cancel_at_period_end)
      from public.user_subscriptions as u where u.polar_subscription_id is not null),
    'subscriptions', coalesce((
      select jsonb_agg(jsonb_build_object('id', s.id, 'product_id', s.product_id,
        'status', s.status, 'current_period_end', s.current_period_end,
        'cancel_at_period_end', s.cancel_at_period_end) order by s.id)
      from public.polar_subscriptions as s), '[]'),
    'entitlements', coalesce((
      select jsonb_agg(distinct g.benefit_metadata ->> 'key')
      from public.polar_benefit_grants as g where g.benefit_metadata ->> 'key' is not null),
      '[]'),
    'meters', coalesce((
      select jsonb_agg(jsonb_build_object('meter_id', m.meter_id, 'balance', m.balance)
        order by m.meter_id)
      from public.polar_meters as m), '[]'),
    'has_active_subscription', public.has_active_subscription()
  );
$$;

comment on function public.billing_state() is
  'The calling user''s own billing state as JSON, read under RLS.';

-- ----- polar.customer_deletions: the account deletion outbox --------------------------------
create table polar.customer_deletions (
  id bigint generated always as identity primary key,
  user_id uuid not null,
  polar_customer_id text,
  requested_at timestamptz not null default now(),
  attempts integer not null default 0,
  last_error text,
  last_attempt_at timestamptz,
  completed_at timestamptz
);

comment on table polar.customer_deletions is
  'One row per deleted Supabase user: their Polar customer is to be deleted (by external_id). Written in the deleting transaction; processed by the sync function until Polar confirms.';

create index customer_deletions_pending_idx
  on polar.customer_deletions (requested_at) where completed_at is null;

alter table polar.customer_deletions enable row level security;
revoke all on table polar.customer_deletions from public, anon, authenticated, service_role;

-- Trigger function: records the outbox row before the user (and, by cascade, their
-- billing rows) is deleted, in the same transaction.
create function polar.record_customer_deletion() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into polar.customer_deletions (user_id, polar_customer_id)
  select old.id, (select s.polar_customer_id from public.user_subscriptions as s
    where s.user_id = old.id);
  return old;
end;
$$;

revoke all on function polar.record_customer_deletion() from public, anon, authenticated, service_role;

create trigger polar_record_customer_deletion
  before delete on auth.users
  for each row execute function polar.record_customer_deletion();

-- Pending deletions, oldest first. service_role only.
create function public.pending_polar_customer_deletions(max_rows integer default 50)
returns table (id bigint, user_id uuid, polar_customer_id text, attempts integer)
language sql
stable
security definer
set search_path = ''
as $$
  select d.id, d.user_id, d.polar_customer_id, d.attempts
  from polar.customer_deletions as d
  where d.completed_at is null
  order by d.requested_at, d.id
  limit max_rows;
$$;

comment on function public.pending_polar_customer_deletions(integer) is
  'Deleted users whose Polar customer is not yet deleted, oldest first. service_role only.';

-- Records one attempt: done when `error` is null, else counted with the error. service_role only.
create function public.finish_polar_customer_deletion(id bigint, error text default null)
returns void
language sql
volatile
security definer
set search_path = ''
as $$
  update polar.customer_deletions as d
  set attempts = d.attempts + 1,
      last_attempt_at = now(),
      last_error = finish_polar_customer_deletion.error,
      completed_at = case when finish_polar_customer_deletion.error is null then now() end
  where d.id = finish_polar_customer_deletion.id and d.completed_at is null;
$$;

comment on function public.finish_polar_customer_deletion(bigint, text) is
  'Marks a customer deletion done, or records a failed attempt. service_role only.';

-- ----- polar.reconcile_runs ---------------------------------------------------------------
create table polar.reconcile_runs (
  id bigint generated always as identity primary key,
  started_at timestamptz not null default now(),
  next_page integer not null default 1,
  phase text not null default 'customers' check (phase in ('customers', 'linked', 'done')),
  counts jsonb not null default '{}',
  finished_at timestamptz
);

comment on table polar.reconcile_runs is
  'Reconcile runs of the sync function: where each is, so a run cut short resumes.';

alter table polar.reconcile_runs enable row level security;
revoke all on table polar.reconcile_runs from public, anon, authenticated, service_role;

-- Starts a reconcile run, or resumes the unfinished one. With resume_only, answers null
-- when no run is unfinished. Returns {id, started_at, next_page, phase, counts, resumed}.
-- service_role only.
create function public.begin_polar_reconcile(resume_only boolean default false) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_run polar.reconcile_runs;
  v_resumed boolean := true;
begin
  -- One caller at a time decides whether to start a run.
  perform pg_advisory_xact_lock(hashtext('polar.reconcile_runs'));
  select * into v_run from polar.reconcile_runs as r
  where r.finished_at is null order by r.id desc limit 1;
  if v_run.id is null then
    if resume_only then
      return null;
    end if;
    insert into polar.reconcile_runs default values returning * into v_run;
    v_resumed := false;
  end if;
  return jsonb_build_object('id', v_run.id, 'started_at', v_run.started_at,
    'next_page', v_run.next_page, 'phase', v_run.phase, 'counts', v_run.counts,
    'resumed', v_resumed);
end;
$$;

comment on function public.begin_polar_reconcile(boolean) is
  'Starts a reconcile run or resumes the unfinished one. service_role only.';

-- Saves a run's progress after each page; phase 'done' finishes it. service_role only.
create function public.save_polar_reconcile(
  id bigint,
  next_page integer,
  phase text,
  counts jsonb
) returns void
language sql
volatile
security definer
set search_path = ''
as $$
  update polar.reconcile_runs as r
  set next_page = save_polar_reconcile.next_page,
      phase = save_polar_reconcile.phase,
      counts = save_polar_reconcile.counts,
      finished_at = case when save_polar_reconcile.phase = 'done' then now() end
  where r.id = save_polar_reconcile.id and r.finished_at is null;
$$;

comment on function public.save_polar_reconcile(bigint, integer, text, jsonb) is
  'Saves a reconcile run''s progress. service_role only.';

-- Which of these external ids are users here. service_role only.
create function public.polar_known_users(ids text[]) returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select u.id from auth.users as u
  where u.id::text = any (select lower(x) from unnest(ids) as x);
$$;

comment on function public.polar_known_users(text[]) is
  'The auth.users ids among `ids`. service_role only.';

-- Users linked to a Polar customer whom the run has not checked yet. service_role only.
create function public.polar_unreconciled_users(since timestamptz, max_rows integer default 100)
returns table (user_id uuid, polar_customer_id text)
language sql
stable
security definer
set search_path = ''
as $$
  select s.user_id, s.polar_customer_id
  from public.user_subscriptions as s
  where s.polar_customer_id is not null
    and (s.polar_reconciled_at is null or s.polar_reconciled_at < since)
  order by s.user_id
  limit max_rows;
$$;

comment on function public.polar_unreconciled_users(timestamptz, integer) is
  'Linked users not checked since `since`. service_role only.';

-- Deliveries recorded without effect because their customer's external_id is no user
-- (deleted users among them), since a time. service_role only.
create function public.polar_skipped_deliveries(since timestamptz) returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select count(*)::integer from polar.webhook_deliveries as d
  where d.outcome = 'skipped' and d.reason = 'no user matches external_id'
    and d.received_at >= since;
$$;

comment on function public.polar_skipped_deliveries(timestamptz) is
  'Deliveries skipped because no user matched their external_id, since `since`. service_role only.';

-- ----- Access --------------------------------------------------------------------------------
revoke all on function
  public.claim_polar_sync(uuid, interval),
  public.apply_polar_state(uuid, jsonb),
  public.unlink_missing_polar_customer(uuid, text),
  public.pending_polar_customer_deletions(integer),
  public.finish_polar_customer_deletion(bigint, text),
  public.begin_polar_reconcile(boolean),
  public.save_polar_reconcile(bigint, integer, text, jsonb),
  public.polar_known_users(text[]),
  public.polar_unreconciled_users(timestamptz, integer),
  public.polar_skipped_deliveries(timestamptz),
  public.billing_state()
  from public, anon, authenticated;
grant execute on function
  public.claim_polar_sync(uuid, interval),
  public.apply_polar_state(uuid, jsonb),
  public.unlink_missing_polar_customer(uuid, text),
  public.pending_polar_customer_deletions(integer),
  public.finish_polar_customer_deletion(bigint, text),
  public.begin_polar_reconcile(boolean),
  public.save_polar_reconcile(bigint, integer, text, jsonb),
  public.polar_known_users(text[]),
  public.polar_unreconciled_users(timestamptz, integer),
  public.polar_skipped_deliveries(timestamptz)
  to service_role;
grant execute on function public.billing_state() to authenticated;
