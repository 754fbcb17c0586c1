-- =====================================================================================
-- A team event racing its team's deletion waits for it (issue 21, found by the reliability
-- suite on PostgreSQL 15). public.apply_polar_team_change looked its team up without a lock: a
-- member, seat, subscription or grant event read the team, a concurrent customer.deleted (or
-- the reconcile's teams_gone phase) deleted it and committed, and the event's insert then failed
-- its foreign key to public.polar_teams: a 500 that Polar retries, for an event that belongs to
-- a team that is gone. Replaced here: the team row is read FOR KEY SHARE, which waits for a
-- deletion in flight and then finds no team ('unknown team customer'); a deletion that comes
-- second waits for the event and removes what it stored. Everything else is as in
-- 20261201001000_team_seat_revocation.sql.
-- =====================================================================================

create or replace function public.apply_polar_team_change(change jsonb) returns jsonb
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

  -- Every other kind belongs to a team through the object's customer_id. A revoked seat has
  -- none (Polar clears it with the holder), so it belongs to the team of the seat as stored,
  -- else of its subscription. FOR KEY SHARE: a deletion of the team in flight is waited for,
  -- and the team is then gone.
  select t.team_id into team from public.polar_teams as t
  where t.polar_customer_id = object ->> 'customer_id'
  for key share;
  if team is null and kind = 'seat' and object ->> 'customer_id' is null then
    select t.team_id into team from public.polar_teams as t
    where t.team_id = coalesce(
      (select s.team_id from public.polar_team_seats as s
        where s.polar_seat_id = object ->> 'id'),
      (select b.team_id from public.polar_team_subscriptions as b
        where b.polar_subscription_id = object ->> 'subscription_id'))
    for key share;
  end if;
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
