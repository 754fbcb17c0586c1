-- =====================================================================================
-- user sync budget: the pulls users trigger share one organization-wide budget of Polar
-- calls, kept in the database so every instance of the sync function draws on the same one
-- (issue 17, G4). Polar's rate limit (500 requests a minute in production, 100 in the
-- sandbox) is per organization and shared with checkout, portal and the reconcile; before
-- this, each account could make a call every 5 s, so about 40 free accounts could spend it.
--
--   * polar.user_sync_budget: one row, the budget's pace (a generic cell rate: each call
--     moves `next_at` one interval on; a call is allowed while `next_at` is at most
--     `burst - 1` intervals ahead of now, so `burst` calls may go at once, then one per
--     interval).
--   * public.claim_polar_user_sync(user_id, min_interval, per_minute, burst): whether the
--     sync function may call Polar for this user now, and why not.
--   * public.take_polar_sync_budget(per_minute, burst): one more call from the budget (a
--     pull that needs a second call).
-- Drops public.claim_polar_sync(uuid, interval) from 20261127000300_sync.sql, which
-- claimed a call for any user, linked or not, and had no budget.
-- =====================================================================================

create table polar.user_sync_budget (
  id boolean primary key default true check (id),
  next_at timestamptz not null default '-infinity'
);

comment on table polar.user_sync_budget is
  'The organization-wide pace of the Polar calls that users'' syncs make: one row.';

insert into polar.user_sync_budget default values;

alter table polar.user_sync_budget enable row level security;
revoke all on table polar.user_sync_budget from public, anon, authenticated, service_role;

-- ----- polar.take_sync_budget ----------------------------------------------------------------
-- Takes one call from the budget when the pace allows it now; false when it is spent.
-- Concurrent callers queue on the one row for the length of an update. Internal.
create function polar.take_sync_budget(per_minute numeric, burst integer) returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_interval interval;
  v_rows integer;
begin
  if take_sync_budget.per_minute is null or take_sync_budget.per_minute <= 0
    or take_sync_budget.burst is null or take_sync_budget.burst < 1 then
    raise exception 'per_minute must be positive and burst at least 1'
      using errcode = 'invalid_parameter_value';
  end if;
  v_interval := make_interval(secs => 60 / take_sync_budget.per_minute);
  update polar.user_sync_budget as b
  set next_at = greatest(b.next_at, now()) + v_interval
  where greatest(b.next_at, now()) <= now() + v_interval * (take_sync_budget.burst - 1);
  get diagnostics v_rows = row_count;
  return v_rows > 0;
end;
$$;

comment on function polar.take_sync_budget(numeric, integer) is
  'Takes one Polar call from the users'' sync budget if the pace allows it now. Internal.';
revoke all on function polar.take_sync_budget(numeric, integer)
  from public, anon, authenticated, service_role;

-- ----- public.claim_polar_user_sync -----------------------------------------------------------
-- Whether the sync function may call Polar for this user now. Answers
-- {outcome, polar_customer_id}:
--   * 'no_customer': no live user, or no linked customer (nothing to pull; no Polar call);
--   * 'recent': the user was pulled less than `min_interval` ago;
--   * 'budget': the organization-wide budget is spent for now (answer the stored state);
--   * 'claimed': go ahead; the user's clock and the budget are both taken.
-- The user's row is locked while deciding, so concurrent calls for one user claim once.
-- service_role only.
create function public.claim_polar_user_sync(
  user_id uuid,
  min_interval interval,
  per_minute numeric,
  burst integer
) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_row record;
  v_outcome text;
begin
  select s.polar_customer_id, s.polar_synced_at into v_row
  from public.user_subscriptions as s
  where s.user_id = claim_polar_user_sync.user_id
    and polar.user_id_of(claim_polar_user_sync.user_id::text) is not null
  for update;
  if v_row.polar_customer_id is null then
    v_outcome := 'no_customer';
  elsif v_row.polar_synced_at > now() - claim_polar_user_sync.min_interval then
    v_outcome := 'recent';
  elsif not polar.take_sync_budget(claim_polar_user_sync.per_minute,
      claim_polar_user_sync.burst) then
    v_outcome := 'budget';
  else
    update public.user_subscriptions as s
    set polar_synced_at = now()
    where s.user_id = claim_polar_user_sync.user_id;
    v_outcome := 'claimed';
  end if;
  return jsonb_build_object('outcome', v_outcome, 'polar_customer_id', v_row.polar_customer_id);
end;
$$;

comment on function public.claim_polar_user_sync(uuid, interval, numeric, integer) is
  'Whether a user''s sync may call Polar now: {outcome: claimed | recent | budget | no_customer, polar_customer_id}. service_role only.';

-- One more call from the users' budget, for a pull that needs a second call. service_role only.
create function public.take_polar_sync_budget(per_minute numeric, burst integer)
returns boolean
language sql
volatile
security definer
set search_path = ''
as $$
  select polar.take_sync_budget(take_polar_sync_budget.per_minute, take_polar_sync_budget.burst);
$$;

comment on function public.take_polar_sync_budget(numeric, integer) is
  'Takes one Polar call from the users'' sync budget if the pace allows it now. service_role only.';

revoke all on function
  public.claim_polar_user_sync(uuid, interval, numeric, integer),
  public.take_polar_sync_budget(numeric, integer)
  from public, anon, authenticated;
grant execute on function
  public.claim_polar_user_sync(uuid, interval, numeric, integer),
  public.take_polar_sync_budget(numeric, integer)
  to service_role;

drop function public.claim_polar_sync(uuid, interval);
