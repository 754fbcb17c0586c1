-- =====================================================================================
-- The example app's own teams (issue 21): the app's teams and its membership, with its own
-- roles (owner, member), the app's answer to "who may bill a team", and members-only team
-- notes gated by a seat of the team.
--
-- This is the app's side of docs/teams.md. The app decides who belongs to a team
-- (public.team_members) and who may bill it (owners). Polar's side, the seats that give
-- access, lives in the project's polar_team_* tables; the notes' policy asks
-- public.has_team_entitlement(team_id, 'pro'), so a member reads them only while they hold a
-- claimed seat whose benefit is "pro".
--
-- Replaces public.polar_may_bill_team(uuid), the project's extension point created in
-- supabase/migrations/20261201000900_teams.sql (default: nobody), as an app does in a later
-- migration of its own. Its current body is here.
--
-- Writes go through the functions below only (create_team, add_team_member); the tables
-- themselves are read-only for signed-in users, under RLS.
-- =====================================================================================

-- ----- Tables -------------------------------------------------------------------------------
create table public.teams (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(btrim(name)) between 1 and 80),
  created_at timestamptz not null default now()
);

comment on table public.teams is
  'The example app''s teams. A team''s id is the external_id of its Polar team customer.';

create table public.team_members (
  team_id uuid not null references public.teams (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role text not null check (role in ('owner', 'member')),
  created_at timestamptz not null default now(),
  primary key (team_id, user_id)
);

comment on table public.team_members is
  'Who belongs to each team of the example app, with the app''s own role: owners may bill the team and add members. This is the app''s membership, not Polar''s.';
create index team_members_user_id_idx on public.team_members (user_id);

create table public.team_notes (
  id bigint generated always as identity primary key,
  team_id uuid not null references public.teams (id) on delete cascade,
  title text not null,
  body text not null,
  created_at timestamptz not null default now()
);

comment on table public.team_notes is
  'Members-only notes of a team: readable by a member while their seat of the team gives them "pro".';
create index team_notes_team_id_idx on public.team_notes (team_id);

alter table public.teams enable row level security;
alter table public.team_members enable row level security;
alter table public.team_notes enable row level security;
-- Supabase grants anon and authenticated everything on new public tables: signed-in users
-- only read, and only what the policies below let them.
revoke all on table public.teams, public.team_members, public.team_notes
  from public, anon, authenticated;
grant select on table public.teams, public.team_members, public.team_notes to authenticated;

-- ----- public.team_role: the caller's role in one of the app's teams ----------------------
-- Security definer, so the policy on team_members can ask it without recursing into its own
-- RLS. Null when the caller is not a member.
create function public.team_role(team_id uuid) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select m.role
  from public.team_members as m
  where m.team_id = team_role.team_id
    and m.user_id = (select auth.uid());
$$;

comment on function public.team_role(uuid) is
  'The caller''s role (owner, member) in the example app''s team, or null when not a member.';
revoke all on function public.team_role(uuid) from public, anon;
grant execute on function public.team_role(uuid) to authenticated;

create policy "Members read their teams"
  on public.teams for select to authenticated
  using (public.team_role(id) is not null);

create policy "Members read the members of their teams"
  on public.team_members for select to authenticated
  using (public.team_role(team_id) is not null);

-- The worked policy of docs/teams.md: per row, its argument is the row's team_id.
create policy "Seat holders with pro read the team's notes"
  on public.team_notes for select to authenticated
  using (public.has_team_entitlement(team_id, 'pro'));

-- ----- public.polar_may_bill_team: the app says who may bill a team -----------------------
-- Replaces the project's default (nobody). Owners of the app's team may buy and manage its
-- seats. Security definer: it reads team_members whatever that table's RLS says.
create or replace function public.polar_may_bill_team(team_id uuid) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.team_members as m
    where m.team_id = polar_may_bill_team.team_id
      and m.user_id = (select auth.uid())
      and m.role = 'owner'
  );
$$;

comment on function public.polar_may_bill_team(uuid) is
  'The example app''s rule: the owners of the team (public.team_members) may buy and manage its seats.';
revoke all on function public.polar_may_bill_team(uuid) from public, anon;
grant execute on function public.polar_may_bill_team(uuid) to authenticated, service_role;

-- ----- public.create_team: a signed-in user creates a team and owns it --------------------
-- Seeds the team's notes, which only seat holders read.
create function public.create_team(name text) returns uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  team uuid;
begin
  if caller is null then
    raise exception 'Sign in to create a team' using errcode = '42501';
  end if;
  if create_team.name is null or length(btrim(create_team.name)) not between 1 and 80 then
    raise exception 'A team name needs 1 to 80 characters' using errcode = '22023';
  end if;
  insert into public.teams (name) values (btrim(create_team.name)) returning id into team;
  insert into public.team_members (team_id, user_id, role) values (team, caller, 'owner');
  insert into public.team_notes (team_id, title, body) values
    (team, 'Welcome to ' || btrim(create_team.name),
      'These notes are for the team''s members who hold a seat.'),
    (team, 'Stand-up', 'Mondays at 10:00, in the team channel.');
  return team;
end;
$$;

comment on function public.create_team(text) is
  'Creates a team of the example app with the caller as its owner; returns its id.';
revoke all on function public.create_team(text) from public, anon;
grant execute on function public.create_team(text) to authenticated;

-- ----- public.add_team_member: an owner adds another user of the app ----------------------
-- The app's own membership, by the user's email: who belongs to the team. It gives no seat and
-- no billing identity (a seat links to the user by id, through the seats function). An
-- unconfirmed account cannot sign in while email confirmation is on, so adding one gives it
-- nothing it can use. Its answer says whether an email has an account, as most team invites
-- do; an app that must not tell would send invitations the invitee accepts instead.
create function public.add_team_member(team_id uuid, email text) returns uuid
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  added uuid;
begin
  if public.team_role(add_team_member.team_id) is distinct from 'owner' then
    raise exception 'Only the team''s owners may add members' using errcode = '42501';
  end if;
  select u.id into added from auth.users as u
  where lower(u.email) = lower(btrim(add_team_member.email))
    and u.deleted_at is null;
  if added is null then
    raise exception 'No account with the email % yet: ask them to sign up first',
      btrim(add_team_member.email) using errcode = 'P0001';
  end if;
  insert into public.team_members (team_id, user_id, role)
  values (add_team_member.team_id, added, 'member')
  on conflict on constraint team_members_pkey do nothing;
  if not found then
    raise exception '% is already a member of this team', lower(btrim(add_team_member.email))
      using errcode = 'P0001';
  end if;
  return added;
end;
$$;

comment on function public.add_team_member(uuid, text) is
  'Adds the user with this email to the team as a member; only the team''s owners may. Returns the user''s id.';
revoke all on function public.add_team_member(uuid, text) from public, anon;
grant execute on function public.add_team_member(uuid, text) to authenticated;

-- ----- public.team_roster: the members of a team, with their emails -----------------------
-- For the page's member list (auth.users is not readable by clients). Empty for a caller who
-- is not a member of the team.
create function public.team_roster(team_id uuid)
returns table (user_id uuid, email text, role text)
language sql
stable
security definer
set search_path = ''
as $$
  select m.user_id, u.email, m.role
  from public.team_members as m
  join auth.users as u on u.id = m.user_id
  where m.team_id = team_roster.team_id
    and public.team_role(team_roster.team_id) is not null
  order by m.role = 'owner' desc, u.email;
$$;

comment on function public.team_roster(uuid) is
  'The members of the team with their emails and roles, for its members only (empty otherwise).';
revoke all on function public.team_roster(uuid) from public, anon;
grant execute on function public.team_roster(uuid) to authenticated;
