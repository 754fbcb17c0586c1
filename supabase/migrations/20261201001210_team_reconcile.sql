-- =====================================================================================
-- The reconcile of team customers (issue 21, point 4): two more phases of a reconcile run,
-- after "linked":
--
--   teams       each team customer the customers phase listed (type team, a uuid external_id)
--               is read whole from Polar (its members, its subscriptions, each subscription's
--               seats, its members' benefit grants) and stored through
--               public.apply_polar_team_change, so the newest version wins and a reconcile
--               never undoes a newer webhook; then what Polar no longer lists goes: a member
--               not listed is removed, a seat not listed is revoked, a grant not listed is no
--               longer granted, each only when its stored version is older than the moment the
--               team's listing began (public.reconcile_polar_team, one call per team); and a
--               listed member whose external_id is a deleted user (whose member the deleting
--               transaction could not queue: its webhooks were lost) is queued for deletion in
--               polar.team_deletions with its seats, as the delete would have;
--   teams_gone  each stored team the listing did not name is checked by id in Polar and, when
--               Polar has no such customer, its rows go, as customer.deleted does.
--
-- The teams the customers phase lists are queued in polar.reconcile_teams
-- (public.stage_polar_reconcile_teams), under the run's lease like every other save, so a
-- run resumes a team phase where it stopped. New functions only; the run's phase constraint
-- gains the two phases.
-- =====================================================================================

alter table polar.reconcile_runs
  drop constraint reconcile_runs_phase_check,
  add constraint reconcile_runs_phase_check check (phase in (
    'customers', 'subscriptions', 'grants', 'meters', 'apply', 'ended', 'stale', 'linked',
    'teams', 'teams_gone', 'done'));

create table polar.reconcile_teams (
  run_id bigint not null references polar.reconcile_runs (id) on delete cascade,
  polar_customer_id text not null,
  team_id uuid,
  customer jsonb not null,
  done boolean not null default false,
  primary key (run_id, polar_customer_id)
);

comment on table polar.reconcile_teams is
  'The team customers a reconcile run listed (customer = Polar''s object, cut to what apply_polar_team_change reads), and the stored teams it checked in teams_gone (team_id null there); done once reconciled. Rows of earlier runs are dropped by the next run''s first stage.';

alter table polar.reconcile_teams enable row level security;
revoke all on table polar.reconcile_teams from public, anon, authenticated, service_role;

-- ----- public.stage_polar_reconcile_teams --------------------------------------------------
-- Queues the team customers of a customers page for the run (`customers`: Polar's Customer
-- objects of type team). Holds the lease. service_role only.
create function public.stage_polar_reconcile_teams(id bigint, lease uuid, customers jsonb)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_rows integer;
begin
  perform polar.hold_reconcile_lease(stage_polar_reconcile_teams.id,
    stage_polar_reconcile_teams.lease);
  if jsonb_typeof(stage_polar_reconcile_teams.customers) is distinct from 'array' then
    raise exception 'customers must be an array' using errcode = '22023';
  end if;
  delete from polar.reconcile_teams as r where r.run_id <> stage_polar_reconcile_teams.id;
  insert into polar.reconcile_teams (run_id, polar_customer_id, team_id, customer)
  select stage_polar_reconcile_teams.id, c ->> 'id', polar.uuid_or_null(c ->> 'external_id'), c
  from jsonb_array_elements(stage_polar_reconcile_teams.customers) as c
  where c ->> 'type' = 'team' and c ->> 'id' is not null
    and polar.uuid_or_null(c ->> 'external_id') is not null
  on conflict (run_id, polar_customer_id) do nothing;
  get diagnostics v_rows = row_count;
  return v_rows;
end;
$$;

comment on function public.stage_polar_reconcile_teams(bigint, uuid, jsonb) is
  'Queues the team customers a reconcile run listed, for the lease''s holder. service_role only.';

-- ----- public.polar_reconcile_teams ---------------------------------------------------------
-- The run's queued teams not yet reconciled. service_role only.
create function public.polar_reconcile_teams(id bigint, max_rows integer default 10)
returns table (polar_customer_id text, team_id uuid, customer jsonb)
language sql
stable
security definer
set search_path = ''
as $$
  select r.polar_customer_id, r.team_id, r.customer
  from polar.reconcile_teams as r
  where r.run_id = polar_reconcile_teams.id and not r.done and r.team_id is not null
  order by r.polar_customer_id
  limit greatest(polar_reconcile_teams.max_rows, 0);
$$;

comment on function public.polar_reconcile_teams(bigint, integer) is
  'The team customers a reconcile run listed and has not reconciled yet. service_role only.';

-- ----- public.reconcile_polar_team ---------------------------------------------------------
-- Stores one team as Polar listed it and removes what Polar no longer lists; marks the team
-- done for the run. Holds the lease.
--   changes  [{kind, object}]: the team customer, its members, subscriptions, seats and member
--            grants, each applied through public.apply_polar_team_change on its own (one that
--            fails is counted and the rest still apply);
--   listed   {at, members: [id] | null, seats: {subscription_id: [seat id]}, grants: [id] |
--            null}: what Polar listed, from `at` (when the listing began). A list that could
--            not be read whole is null (or, for seats, its subscription absent), and nothing of
--            that kind is removed.
-- A listed member whose external_id is a deleted user's (polar.customer_deletions has a row for
-- every deleted user, hard or soft) is queued in polar.team_deletions with its seats.
-- Answers {applied, stale, ignored, failed, members_removed, seats_revoked, grants_revoked,
-- deletions_queued}.
create function public.reconcile_polar_team(
  id bigint,
  lease uuid,
  polar_customer_id text,
  changes jsonb,
  listed jsonb
) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_change jsonb;
  v_outcome text;
  v_team uuid;
  v_at timestamptz;
  v_subscription text;
  v_seats jsonb;
  v_applied integer := 0;
  v_stale integer := 0;
  v_ignored integer := 0;
  v_failed integer := 0;
  v_members integer := 0;
  v_seat_rows integer := 0;
  v_rows integer;
  v_grants integer := 0;
  v_user uuid;
  v_member text;
  v_queued integer := 0;
begin
  perform polar.hold_reconcile_lease(reconcile_polar_team.id, reconcile_polar_team.lease);
  if jsonb_typeof(reconcile_polar_team.changes) is distinct from 'array'
    or jsonb_typeof(reconcile_polar_team.listed) is distinct from 'object'
    or reconcile_polar_team.listed ->> 'at' is null then
    raise exception 'changes must be an array and listed an object with at'
      using errcode = '22023';
  end if;
  v_at := (reconcile_polar_team.listed ->> 'at')::timestamptz;

  for v_change in select * from jsonb_array_elements(reconcile_polar_team.changes) loop
    begin
      v_outcome := public.apply_polar_team_change(v_change) ->> 'outcome';
      if v_outcome = 'applied' then v_applied := v_applied + 1;
      elsif v_outcome = 'stale' then v_stale := v_stale + 1;
      else v_ignored := v_ignored + 1;
      end if;
    exception when others then
      v_failed := v_failed + 1;
    end;
  end loop;

  select t.team_id into v_team from public.polar_teams as t
  where t.polar_customer_id = reconcile_polar_team.polar_customer_id;

  for v_user, v_member in
    select polar.uuid_or_null(c -> 'object' ->> 'external_id'), c -> 'object' ->> 'id'
    from jsonb_array_elements(reconcile_polar_team.changes) as c
    where c ->> 'kind' = 'member'
  loop
    if v_user is not null
      and exists (select 1 from polar.customer_deletions as d where d.user_id = v_user)
      and not exists (select 1 from polar.team_deletions as d
        where d.user_id = v_user and d.kind = 'member' and d.polar_id = v_member) then
      perform polar.queue_team_member_deletion(v_user, v_member);
      if exists (select 1 from polar.team_deletions as d
        where d.user_id = v_user and d.kind = 'member' and d.polar_id = v_member) then
        v_queued := v_queued + 1;
      end if;
    end if;
  end loop;

  if v_team is not null then
    if jsonb_typeof(reconcile_polar_team.listed -> 'members') = 'array' then
      update public.polar_team_members as m
      set removed = true, version = v_at
      where m.team_id = v_team and not m.removed and m.version < v_at
        and not (m.polar_member_id in (
          select jsonb_array_elements_text(reconcile_polar_team.listed -> 'members')));
      get diagnostics v_members = row_count;
    end if;
    if jsonb_typeof(reconcile_polar_team.listed -> 'seats') = 'object' then
      for v_subscription, v_seats in
        select key, value from jsonb_each(reconcile_polar_team.listed -> 'seats')
      loop
        update public.polar_team_seats as s
        set status = 'revoked', polar_member_id = null, email = null, revoked_at = v_at,
          version = v_at
        where s.team_id = v_team and s.polar_subscription_id = v_subscription
          and s.status <> 'revoked' and s.version < v_at
          and not (s.polar_seat_id in (select jsonb_array_elements_text(v_seats)));
        get diagnostics v_rows = row_count;
        v_seat_rows := v_seat_rows + v_rows;
      end loop;
    end if;
    if jsonb_typeof(reconcile_polar_team.listed -> 'grants') = 'array' then
      update public.polar_team_member_grants as g
      set is_granted = false, version = v_at
      where g.team_id = v_team and g.is_granted and g.version < v_at
        and not (g.polar_grant_id in (
          select jsonb_array_elements_text(reconcile_polar_team.listed -> 'grants')));
      get diagnostics v_grants = row_count;
    end if;
  end if;

  update polar.reconcile_teams as r set done = true
  where r.run_id = reconcile_polar_team.id
    and r.polar_customer_id = reconcile_polar_team.polar_customer_id;

  return jsonb_build_object('applied', v_applied, 'stale', v_stale, 'ignored', v_ignored,
    'failed', v_failed, 'members_removed', v_members, 'seats_revoked', v_seat_rows,
    'grants_revoked', v_grants, 'deletions_queued', v_queued);
end;
$$;

comment on function public.reconcile_polar_team(bigint, uuid, text, jsonb, jsonb) is
  'Stores one team customer as Polar listed it and removes the members, seats and grants Polar no longer lists, for the reconcile lease''s holder. service_role only.';

-- ----- public.polar_reconcile_gone_teams ---------------------------------------------------
-- Stored teams the run's listing did not name and that are older than the run (a team a
-- webhook stored after the run began is left alone), not yet checked. service_role only.
create function public.polar_reconcile_gone_teams(id bigint, max_rows integer default 25)
returns table (team_id uuid, polar_customer_id text)
language sql
stable
security definer
set search_path = ''
as $$
  select t.team_id, t.polar_customer_id
  from public.polar_teams as t
  join polar.reconcile_runs as run on run.id = polar_reconcile_gone_teams.id
  where t.version < run.started_at
    and not exists (
      select 1 from polar.reconcile_teams as r
      where r.run_id = polar_reconcile_gone_teams.id
        and r.polar_customer_id = t.polar_customer_id)
  order by t.polar_customer_id
  limit greatest(polar_reconcile_gone_teams.max_rows, 0);
$$;

comment on function public.polar_reconcile_gone_teams(bigint, integer) is
  'Stored teams a reconcile run''s listing did not name, to check in Polar. service_role only.';

-- ----- public.finish_polar_reconcile_gone_team ---------------------------------------------
-- Records the check of one unlisted team: `gone` (Polar answered 404, or the customer has
-- deleted_at) deletes the team's rows, as customer.deleted does; either way the team is not
-- checked again in this run. Holds the lease. Answers whether rows went. service_role only.
create function public.finish_polar_reconcile_gone_team(
  id bigint,
  lease uuid,
  polar_customer_id text,
  gone boolean
) returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_rows integer := 0;
begin
  perform polar.hold_reconcile_lease(finish_polar_reconcile_gone_team.id,
    finish_polar_reconcile_gone_team.lease);
  insert into polar.reconcile_teams (run_id, polar_customer_id, team_id, customer, done)
  values (finish_polar_reconcile_gone_team.id, finish_polar_reconcile_gone_team.polar_customer_id,
    null, '{}', true)
  on conflict on constraint reconcile_teams_pkey do update set done = true;
  if finish_polar_reconcile_gone_team.gone then
    delete from public.polar_teams as t
    where t.polar_customer_id = finish_polar_reconcile_gone_team.polar_customer_id
      and t.version < (select r.started_at from polar.reconcile_runs as r
        where r.id = finish_polar_reconcile_gone_team.id);
    get diagnostics v_rows = row_count;
  end if;
  return v_rows > 0;
end;
$$;

comment on function public.finish_polar_reconcile_gone_team(bigint, uuid, text, boolean) is
  'Deletes an unlisted team''s rows when Polar has no such customer, for the reconcile lease''s holder. service_role only.';

revoke all on function public.stage_polar_reconcile_teams(bigint, uuid, jsonb),
  public.polar_reconcile_teams(bigint, integer),
  public.reconcile_polar_team(bigint, uuid, text, jsonb, jsonb),
  public.polar_reconcile_gone_teams(bigint, integer),
  public.finish_polar_reconcile_gone_team(bigint, uuid, text, boolean)
  from public, anon, authenticated;
grant execute on function public.stage_polar_reconcile_teams(bigint, uuid, jsonb),
  public.polar_reconcile_teams(bigint, integer),
  public.reconcile_polar_team(bigint, uuid, text, jsonb, jsonb),
  public.polar_reconcile_gone_teams(bigint, integer),
  public.finish_polar_reconcile_gone_team(bigint, uuid, text, boolean)
  to service_role;
