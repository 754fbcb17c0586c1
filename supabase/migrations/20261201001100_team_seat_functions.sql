-- =====================================================================================
-- Teams and seats (issue 21): what the `checkout`, `portal` and `seats` functions ask the
-- database before they call Polar. Service role only; no function here is replaced later, and
-- none replaces an earlier one.
--
--   public.polar_team_billing_state(team_id, user_id)  the team's customer, its live
--       subscription with seats, how many stored seats of it are taken, and whether the user
--       already holds one: the checks made before any Polar write.
--   public.polar_seat_user_by_id(user_id)              an app user to give a seat to, with the
--       email Supabase has for them (never one from a request body).
--   public.polar_seat_user_by_email(email)             the app user with that CONFIRMED email,
--       for an invitation by email: an unconfirmed address proves nothing about who owns it.
--
-- The caller's own right to bill a team is not asked here: the functions ask
-- public.polar_may_bill_team(team_id) with the caller's token, so it answers for auth.uid().
-- =====================================================================================

-- ----- public.polar_team_billing_state ------------------------------------------------------
-- A team's live subscription is its newest active or trialing one; "taken" counts the stored
-- seats of that subscription that are not revoked (pending invitations hold a seat, as Polar
-- counts them). user_has_seat: a stored, non-revoked seat of the team held by the user's member.
-- team_id_is_user: the id is also a user's (Basejump's personal accounts): bill the user instead.
create function public.polar_team_billing_state(team_id uuid, user_id uuid default null)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  with live as (
    select s.polar_subscription_id, s.seats, s.status
    from public.polar_team_subscriptions as s
    where s.team_id = polar_team_billing_state.team_id
      and s.status in ('active', 'trialing')
    order by s.version desc
    limit 1
  )
  select jsonb_build_object(
    'polar_customer_id', (
      select t.polar_customer_id from public.polar_teams as t
      where t.team_id = polar_team_billing_state.team_id),
    'subscription', (
      select jsonb_build_object('id', l.polar_subscription_id, 'seats', l.seats,
        'status', l.status)
      from live as l),
    'taken_seats', (
      select count(*) from public.polar_team_seats as s
      join live as l on l.polar_subscription_id = s.polar_subscription_id
      where s.team_id = polar_team_billing_state.team_id and s.status <> 'revoked'),
    'user_has_seat', polar_team_billing_state.user_id is not null and exists (
      select 1 from public.polar_team_seats as s
      join public.polar_team_members as m
        on m.polar_member_id = s.polar_member_id and m.team_id = s.team_id
      where s.team_id = polar_team_billing_state.team_id
        and s.status <> 'revoked'
        and not m.removed
        and m.user_id = polar_team_billing_state.user_id),
    'team_id_is_user', exists (
      select 1 from auth.users as u where u.id = polar_team_billing_state.team_id)
  );
$$;

comment on function public.polar_team_billing_state(uuid, uuid) is
  'A team''s Polar customer, live subscription (id, seats, status), stored seats taken, whether the user holds one, and whether the id is a user''s. For the team functions; service role only.';
revoke all on function public.polar_team_billing_state(uuid, uuid)
  from public, anon, authenticated;
grant execute on function public.polar_team_billing_state(uuid, uuid) to service_role;

-- ----- public.polar_seat_user_by_id / public.polar_seat_user_by_email ----------------------
-- Security definer: they read auth.users, which the API roles cannot. A soft-deleted user
-- (auth.admin.deleteUser(id, true)) is no user. Null when there is none.
create function public.polar_seat_user_by_id(user_id uuid) returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object('user_id', u.id, 'email', u.email)
  from auth.users as u
  where u.id = polar_seat_user_by_id.user_id
    and u.deleted_at is null
    and u.email is not null;
$$;

comment on function public.polar_seat_user_by_id(uuid) is
  'The user to give a seat to, {user_id, email} with Supabase''s email for them, or null. Service role only.';
revoke all on function public.polar_seat_user_by_id(uuid) from public, anon, authenticated;
grant execute on function public.polar_seat_user_by_id(uuid) to service_role;

create function public.polar_seat_user_by_email(email text) returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object('user_id', u.id, 'email', u.email)
  from auth.users as u
  where lower(u.email) = lower(btrim(polar_seat_user_by_email.email))
    and u.email_confirmed_at is not null
    and u.deleted_at is null
  order by u.created_at
  limit 1;
$$;

comment on function public.polar_seat_user_by_email(text) is
  'The user whose CONFIRMED email this is, {user_id, email}, or null: an invitation by email goes to that account. Service role only.';
revoke all on function public.polar_seat_user_by_email(text) from public, anon, authenticated;
grant execute on function public.polar_seat_user_by_email(text) to service_role;
