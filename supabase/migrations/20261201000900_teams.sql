-- =====================================================================================
-- Teams and seats (issue 21), the database part: an app's teams billed as Polar team
-- customers, their members linked to Supabase users, their seats and each member's grants,
-- and the gates that answer "does this member's seat give them `pro`".
--
-- Identity. A team's Polar customer is of type "team" and has external_id = the app's team
-- id (a uuid). A member links to a Supabase user by the member's external_id = the user's id,
-- and by nothing else: never by email. A member without such an external_id holds nothing.
--
-- What holds access. A user holds a key through a team when, all at once:
--   * they are a member of the team (not removed), by external_id;
--   * a seat of the team is claimed by that member;
--   * the seat's subscription is active or trialing (a seat bought once, by an order, has none);
--   * Polar has granted that member a benefit whose metadata "key" (or id) is the key.
-- So a revoked seat, a removed member, a subscription that ends and a deleted team customer
-- each take the access away in the transaction that stores the change, before Polar's own
-- benefit_grant.revoked arrives.
--
-- Order. Polar delivers at least once and out of order. Each object is kept at its newest
-- version (modified_at, else created_at): an older or equal version changes nothing, so a
-- redelivery is a no-op. A removed member stays removed (Polar does not bring a member id
-- back); a team customer deleted in Polar takes every row of the team with it, and events
-- that arrive for it later find no team and change nothing.
--
-- The extension point. public.polar_may_bill_team(team_id) answers whether the caller may
-- buy and manage seats for a team. Its default answers false for everyone. The app replaces
-- it in a later migration of its own, from its own tables (see docs/teams.md); this
-- project's later migrations never replace it.
-- =====================================================================================

-- ----- The extension point ------------------------------------------------------------------
create function public.polar_may_bill_team(team_id uuid) returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
  select false;
$$;

comment on function public.polar_may_bill_team(uuid) is
  'Whether auth.uid() may buy and manage seats for the team. Default: nobody. The app replaces this function in its own later migration; this project never replaces it again.';
revoke all on function public.polar_may_bill_team(uuid) from public, anon;
grant execute on function public.polar_may_bill_team(uuid) to authenticated, service_role;

-- ----- Tables -------------------------------------------------------------------------------
create table public.polar_teams (
  team_id uuid primary key,
  polar_customer_id text not null unique,
  version timestamptz not null
);

comment on table public.polar_teams is
  'Each team''s Polar customer (type team, external_id = team_id). Deleting a row ends everything of the team.';

create table public.polar_team_members (
  polar_member_id text primary key,
  team_id uuid not null references public.polar_teams (team_id) on delete cascade,
  user_id uuid references auth.users (id) on delete set null,
  role text not null check (role in ('owner', 'billing_manager', 'member')),
  removed boolean not null default false,
  version timestamptz not null
);

comment on table public.polar_team_members is
  'Members of each team''s Polar customer; user_id from the member''s external_id only. A removed member is kept, so a late event cannot bring it back.';
comment on column public.polar_team_members.user_id is
  'The Supabase user whose id is the member''s external_id; null when there is none (an invitee not yet linked, a deleted user).';
create index polar_team_members_user on public.polar_team_members (user_id, team_id)
  where not removed;

create table public.polar_team_subscriptions (
  polar_subscription_id text primary key,
  team_id uuid not null references public.polar_teams (team_id) on delete cascade,
  product_id text,
  status text not null,
  seats integer,
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  ended_at timestamptz,
  version timestamptz not null
);

comment on table public.polar_team_subscriptions is
  'Each team''s Polar subscriptions, seat-based or not, at their newest version.';
create index polar_team_subscriptions_team on public.polar_team_subscriptions (team_id);

create table public.polar_team_seats (
  polar_seat_id text primary key,
  team_id uuid not null references public.polar_teams (team_id) on delete cascade,
  polar_subscription_id text,
  polar_order_id text,
  polar_member_id text,
  email text,
  status text not null check (status in ('pending', 'claimed', 'revoked')),
  claimed_at timestamptz,
  revoked_at timestamptz,
  version timestamptz not null
);

comment on table public.polar_team_seats is
  'Each team''s seats as Polar last described them: who holds one (polar_member_id), whether it is claimed. Polar reuses a revoked seat for the next assignment.';
create index polar_team_seats_member on public.polar_team_seats (polar_member_id)
  where status = 'claimed';
create index polar_team_seats_team on public.polar_team_seats (team_id);

create table public.polar_team_member_grants (
  polar_grant_id text primary key,
  team_id uuid not null references public.polar_teams (team_id) on delete cascade,
  polar_member_id text not null,
  benefit_id text not null,
  benefit_key text,
  polar_subscription_id text,
  is_granted boolean not null,
  version timestamptz not null
);

comment on table public.polar_team_member_grants is
  'Benefits Polar granted to team members (benefit_grant.* with a member_id): the team''s Customer State has no member, so these come from the grant events and listings.';
create index polar_team_member_grants_member on public.polar_team_member_grants (polar_member_id)
  where is_granted;

-- Written only by the service role (through the functions below); read under RLS.
alter table public.polar_teams enable row level security;
alter table public.polar_team_members enable row level security;
alter table public.polar_team_subscriptions enable row level security;
alter table public.polar_team_seats enable row level security;
alter table public.polar_team_member_grants enable row level security;
revoke all on table public.polar_teams, public.polar_team_members,
  public.polar_team_subscriptions, public.polar_team_seats, public.polar_team_member_grants
  from public, anon, authenticated, service_role;
grant select on table public.polar_teams, public.polar_team_members,
  public.polar_team_subscriptions, public.polar_team_seats, public.polar_team_member_grants
  to authenticated, service_role;

-- ----- public.polar_team_role: the caller's role in a team -------------------------------
-- For the policies below and for an app's own (show the seat controls to owners and billing
-- managers). Security definer, so a policy on the members table can ask it without recursing
-- into its own RLS. Null when the caller is not a member (or was removed).
create function public.polar_team_role(team_id uuid) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select m.role
  from public.polar_team_members as m
  where m.team_id = polar_team_role.team_id
    and m.user_id = (select auth.uid())
    and not m.removed
  limit 1;
$$;

comment on function public.polar_team_role(uuid) is
  'The caller''s role in the team''s Polar customer (owner, billing_manager, member), or null.';
revoke all on function public.polar_team_role(uuid) from public, anon;
grant execute on function public.polar_team_role(uuid) to authenticated, service_role;

create policy "Members see their team"
  on public.polar_teams for select to authenticated
  using (public.polar_team_role(team_id) is not null);
create policy "Members see the team's subscriptions"
  on public.polar_team_subscriptions for select to authenticated
  using (public.polar_team_role(team_id) is not null);
create policy "Members see themselves; owners and billing managers see every member"
  on public.polar_team_members for select to authenticated
  using ((user_id = (select auth.uid()) and not removed)
    or public.polar_team_role(team_id) in ('owner', 'billing_manager'));
create policy "Members see their own seat; owners and billing managers see every seat"
  on public.polar_team_seats for select to authenticated
  using (public.polar_team_role(team_id) in ('owner', 'billing_manager')
    or exists (
      select 1 from public.polar_team_members as m
      where m.polar_member_id = polar_team_seats.polar_member_id
        and m.user_id = (select auth.uid())
        and not m.removed));
create policy "Members see their own grants"
  on public.polar_team_member_grants for select to authenticated
  using (exists (
    select 1 from public.polar_team_members as m
    where m.polar_member_id = polar_team_member_grants.polar_member_id
      and m.user_id = (select auth.uid())
      and not m.removed));
create policy "The service role reads every team"
  on public.polar_teams for select to service_role using (true);
create policy "The service role reads every member"
  on public.polar_team_members for select to service_role using (true);
create policy "The service role reads every team subscription"
  on public.polar_team_subscriptions for select to service_role using (true);
create policy "The service role reads every seat"
  on public.polar_team_seats for select to service_role using (true);
create policy "The service role reads every member grant"
  on public.polar_team_member_grants for select to service_role using (true);

-- ----- polar.holds_team_key: the one rule of the banner -------------------------------------
create function polar.holds_team_key(user_id uuid, team_id uuid, key text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select holds_team_key.user_id is not null and exists (
    select 1
    from public.polar_team_members as m
    join public.polar_team_seats as s
      on s.polar_member_id = m.polar_member_id and s.team_id = m.team_id
    join public.polar_team_member_grants as g
      on g.polar_member_id = m.polar_member_id and g.team_id = m.team_id
    where m.user_id = holds_team_key.user_id
      and not m.removed
      and (holds_team_key.team_id is null or m.team_id = holds_team_key.team_id)
      and s.status = 'claimed'
      and (s.polar_subscription_id is null or exists (
        select 1 from public.polar_team_subscriptions as t
        where t.polar_subscription_id = s.polar_subscription_id
          and t.team_id = m.team_id
          and t.status in ('active', 'trialing')))
      and g.is_granted
      and (g.benefit_key = holds_team_key.key or g.benefit_id = holds_team_key.key)
  );
$$;

comment on function polar.holds_team_key(uuid, uuid, text) is
  'Whether the user holds the key through a claimed seat of the team (any team when team_id is null). Internal.';
revoke all on function polar.holds_team_key(uuid, uuid, text)
  from public, anon, authenticated, service_role;

-- ----- The gates ----------------------------------------------------------------------------
create function public.has_team_entitlement(team_id uuid, key text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select polar.holds_team_key((select auth.uid()), has_team_entitlement.team_id,
    has_team_entitlement.key)
    and has_team_entitlement.team_id is not null;
$$;

comment on function public.has_team_entitlement(uuid, text) is
  'Whether auth.uid() holds the key through a claimed seat of this team. For RLS on team-owned tables.';
revoke all on function public.has_team_entitlement(uuid, text) from public, anon;
grant execute on function public.has_team_entitlement(uuid, text) to authenticated, service_role;

-- public.has_entitlement, replaced: the caller's own purchase (as in
-- 20261201000100_hardening.sql) or a claimed seat of any team.
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
  ) or polar.holds_team_key((select auth.uid()), null, has_entitlement.key);
$$;

-- ----- public.apply_polar_team_change: every team event, one entry point ---------------------
-- change: {"kind": …, "object": <Polar's object as the webhook or the API gives it>}. Kinds:
--   team_customer     a Customer (customer.created/updated/deleted of type team)
--   member            a Member (member.created/updated); member_deleted (member.deleted)
--   seat              a CustomerSeat (customer_seat.assigned/claimed/revoked)
--   subscription      a Subscription whose customer is a team
--   grant             a BenefitGrant with a member_id (benefit_grant.*)
-- Answers {"outcome": "applied" | "stale" | "ignored", "reason"?}. Service role only.
create function polar.version_of(object jsonb) returns timestamptz
language sql
immutable
set search_path = ''
as $$
  select coalesce(object ->> 'modified_at', object ->> 'created_at')::timestamptz;
$$;

comment on function polar.version_of(jsonb) is
  'A Polar object''s version: modified_at, else created_at. Internal.';
revoke all on function polar.version_of(jsonb) from public, anon, authenticated, service_role;

create function polar.uuid_or_null(value text) returns uuid
language sql
immutable
set search_path = ''
as $$
  select case
    when value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    then value::uuid
  end;
$$;

comment on function polar.uuid_or_null(text) is 'The text as a uuid, or null. Internal.';
revoke all on function polar.uuid_or_null(text) from public, anon, authenticated, service_role;

create function public.apply_polar_team_change(change jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  kind text := change ->> 'kind';
  object jsonb := change -> 'object';
  version timestamptz;
  team uuid;
  member_user uuid;
  rows integer;
begin
  if kind is null or jsonb_typeof(object) is distinct from 'object' then
    raise exception 'change must have a kind and an object' using errcode = '22023';
  end if;
  version := polar.version_of(object);
  if version is null or object ->> 'id' is null then
    raise exception 'the % must have an id and created_at', kind using errcode = '22023';
  end if;

  if kind = 'team_customer' then
    if object ->> 'type' is distinct from 'team' then
      return jsonb_build_object('outcome', 'ignored', 'reason', 'not a team customer');
    end if;
    team := polar.uuid_or_null(object ->> 'external_id');
    if object ->> 'deleted_at' is not null then
      delete from public.polar_teams where polar_customer_id = object ->> 'id';
      get diagnostics rows = row_count;
      return jsonb_build_object('outcome', case when rows > 0 then 'applied' else 'ignored' end);
    end if;
    if team is null then
      return jsonb_build_object('outcome', 'ignored', 'reason', 'external_id is not a team id');
    end if;
    insert into public.polar_teams as t (team_id, polar_customer_id, version)
    values (team, object ->> 'id', version)
    on conflict (polar_customer_id) do update
      set team_id = excluded.team_id, version = excluded.version
      where t.version < excluded.version;
    get diagnostics rows = row_count;
    return jsonb_build_object('outcome', case when rows > 0 then 'applied' else 'stale' end);
  end if;

  -- Every other kind belongs to a team through the object's customer_id.
  select t.team_id into team from public.polar_teams as t
  where t.polar_customer_id = object ->> 'customer_id';
  if team is null then
    return jsonb_build_object('outcome', 'ignored', 'reason', 'unknown team customer');
  end if;

  if kind in ('member', 'member_deleted') then
    if object ->> 'role' not in ('owner', 'billing_manager', 'member') then
      raise exception 'member role must be owner, billing_manager or member, not %',
        coalesce(object ->> 'role', 'null') using errcode = '22023';
    end if;
    select u.id into member_user from auth.users as u
    where u.id = polar.uuid_or_null(object ->> 'external_id');
    insert into public.polar_team_members as m
      (polar_member_id, team_id, user_id, role, removed, version)
    values (object ->> 'id', team, member_user, object ->> 'role', kind = 'member_deleted',
      version)
    on conflict (polar_member_id) do update
      set user_id = excluded.user_id, role = excluded.role, removed = excluded.removed,
        version = excluded.version
      where not m.removed
        and (m.version < excluded.version or (excluded.removed and m.version <= excluded.version));
  elsif kind = 'seat' then
    if object ->> 'status' not in ('pending', 'claimed', 'revoked') then
      raise exception 'seat status must be pending, claimed or revoked, not %',
        coalesce(object ->> 'status', 'null') using errcode = '22023';
    end if;
    insert into public.polar_team_seats as s (polar_seat_id, team_id, polar_subscription_id,
      polar_order_id, polar_member_id, email, status, claimed_at, revoked_at, version)
    values (object ->> 'id', team, object ->> 'subscription_id', object ->> 'order_id',
      object ->> 'member_id', coalesce(object ->> 'email', object -> 'member' ->> 'email'),
      object ->> 'status', (object ->> 'claimed_at')::timestamptz,
      (object ->> 'revoked_at')::timestamptz, version)
    on conflict (polar_seat_id) do update
      set polar_subscription_id = excluded.polar_subscription_id,
        polar_order_id = excluded.polar_order_id, polar_member_id = excluded.polar_member_id,
        email = excluded.email, status = excluded.status, claimed_at = excluded.claimed_at,
        revoked_at = excluded.revoked_at, version = excluded.version
      where s.version < excluded.version;
  elsif kind = 'subscription' then
    insert into public.polar_team_subscriptions as t (polar_subscription_id, team_id,
      product_id, status, seats, current_period_end, cancel_at_period_end, ended_at, version)
    values (object ->> 'id', team, object ->> 'product_id', object ->> 'status',
      (object ->> 'seats')::integer, (object ->> 'current_period_end')::timestamptz,
      coalesce((object ->> 'cancel_at_period_end')::boolean, false),
      (object ->> 'ended_at')::timestamptz, version)
    on conflict (polar_subscription_id) do update
      set product_id = excluded.product_id, status = excluded.status, seats = excluded.seats,
        current_period_end = excluded.current_period_end,
        cancel_at_period_end = excluded.cancel_at_period_end, ended_at = excluded.ended_at,
        version = excluded.version
      where t.version < excluded.version;
  elsif kind = 'grant' then
    if object ->> 'member_id' is null then
      return jsonb_build_object('outcome', 'ignored', 'reason', 'a grant without a member');
    end if;
    insert into public.polar_team_member_grants as g (polar_grant_id, team_id, polar_member_id,
      benefit_id, benefit_key, polar_subscription_id, is_granted, version)
    values (object ->> 'id', team, object ->> 'member_id', object ->> 'benefit_id',
      object -> 'benefit' -> 'metadata' ->> 'key', object ->> 'subscription_id',
      coalesce((object ->> 'is_granted')::boolean, false)
        and not coalesce((object ->> 'is_revoked')::boolean, false),
      version)
    on conflict (polar_grant_id) do update
      set polar_member_id = excluded.polar_member_id, benefit_id = excluded.benefit_id,
        benefit_key = excluded.benefit_key,
        polar_subscription_id = excluded.polar_subscription_id,
        is_granted = excluded.is_granted, version = excluded.version
      where g.version < excluded.version;
  else
    raise exception 'unknown team change kind %', kind using errcode = '22023';
  end if;
  get diagnostics rows = row_count;
  return jsonb_build_object('outcome', case when rows > 0 then 'applied' else 'stale' end);
end;
$$;

comment on function public.apply_polar_team_change(jsonb) is
  'Applies one team object from Polar (customer, member, seat, subscription, member grant) at its newest version. Service role only.';
revoke all on function public.apply_polar_team_change(jsonb)
  from public, anon, authenticated, service_role;
grant execute on function public.apply_polar_team_change(jsonb) to service_role;

-- ----- public.apply_polar_team_webhook: a verified team event, once per webhook-id ----------
-- The same delivery record as apply_polar_webhook: a webhook-id already recorded changes
-- nothing ({"outcome": "duplicate"}). `team` is {kind, object} as apply_polar_team_change
-- takes it. The outcome is applied, stale, or ignored (with the reason) for an object of no
-- team this project knows. Service role only.
create function public.apply_polar_team_webhook(
  webhook_id text,
  event_type text,
  event_timestamp timestamptz,
  team jsonb
) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_result jsonb;
begin
  if apply_polar_team_webhook.webhook_id is null
    or apply_polar_team_webhook.event_type is null
    or apply_polar_team_webhook.event_timestamp is null
    or jsonb_typeof(apply_polar_team_webhook.team) is distinct from 'object' then
    raise exception 'webhook_id, event_type, event_timestamp and team are required'
      using errcode = 'null_value_not_allowed';
  end if;
  if not polar.claim_delivery(apply_polar_team_webhook.webhook_id,
    apply_polar_team_webhook.event_type, apply_polar_team_webhook.event_timestamp,
    apply_polar_team_webhook.team -> 'object' ->> 'customer_id',
    apply_polar_team_webhook.team -> 'object' ->> 'subscription_id') then
    return jsonb_build_object('outcome', 'duplicate');
  end if;
  v_result := public.apply_polar_team_change(apply_polar_team_webhook.team);
  update polar.webhook_deliveries as d
  set outcome = v_result ->> 'outcome', reason = v_result ->> 'reason'
  where d.webhook_id = apply_polar_team_webhook.webhook_id;
  return v_result;
end;
$$;

comment on function public.apply_polar_team_webhook(text, text, timestamptz, jsonb) is
  'Applies one verified team event (seat, member, member grant, team customer or subscription) once per webhook-id. Returns {outcome, reason?}. service_role only.';
revoke all on function public.apply_polar_team_webhook(text, text, timestamptz, jsonb)
  from public, anon, authenticated;
grant execute on function public.apply_polar_team_webhook(text, text, timestamptz, jsonb)
  to service_role;
