-- =====================================================================================
-- A deleted team customer stays deleted (issue 21). Polar delivers at least once, out of
-- order, and resends old events: once customer.deleted has removed a team
-- (public.polar_teams, and with it every member, seat, subscription and grant of the team), an
-- older customer.created or customer.updated of that customer arriving later inserted the
-- team again, and the team's older member, seat and grant events after it gave its members
-- their access back. Polar never brings a deleted customer back (its ids are not reused), so
-- a removed team's Polar customer id is remembered here and never stored as a team again.
-- No function is replaced: two triggers on public.polar_teams do it, whoever deletes the row
-- (customer.deleted through public.apply_polar_team_change, or an operator).
-- =====================================================================================

-- ----- Table ----------------------------------------------------------------------------------
create table polar.deleted_team_customers (
  polar_customer_id text primary key,
  deleted_at timestamptz not null default now()
);

comment on table polar.deleted_team_customers is
  'Polar customer ids of teams removed from public.polar_teams; such a customer is never stored as a team again. Read by no client.';

alter table polar.deleted_team_customers enable row level security;
revoke all on table polar.deleted_team_customers from public, anon, authenticated, service_role;

-- ----- Triggers -------------------------------------------------------------------------------
create function polar.remember_deleted_team() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into polar.deleted_team_customers (polar_customer_id)
  values (old.polar_customer_id)
  on conflict (polar_customer_id) do nothing;
  return old;
end;
$$;

comment on function polar.remember_deleted_team() is
  'AFTER DELETE on public.polar_teams: remembers the removed team''s Polar customer id.';
revoke all on function polar.remember_deleted_team() from public, anon, authenticated, service_role;

create trigger polar_teams_remember_deleted
  after delete on public.polar_teams
  for each row execute function polar.remember_deleted_team();

create function polar.refuse_deleted_team() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- A skipped insert: apply_polar_team_change then answers 'stale', and the team's later
  -- events find no team ('unknown team customer').
  if exists (
    select 1 from polar.deleted_team_customers as d
    where d.polar_customer_id = new.polar_customer_id
  ) then
    return null;
  end if;
  return new;
end;
$$;

comment on function polar.refuse_deleted_team() is
  'BEFORE INSERT on public.polar_teams: skips a row whose Polar customer was deleted.';
revoke all on function polar.refuse_deleted_team() from public, anon, authenticated, service_role;

create trigger polar_teams_refuse_deleted
  before insert on public.polar_teams
  for each row execute function polar.refuse_deleted_team();
