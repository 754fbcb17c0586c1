-- =====================================================================================
-- Team member deletions (issue 21, point 5): deleting a user (hard, or Supabase's soft
-- delete) revokes their seats in Polar and deletes their team members there, through an
-- outbox written in the deleting transaction, as polar.customer_deletions does for their own
-- customer.
--
-- What is captured, in the transaction that deletes the user: each member of a team whose
-- external_id is the user (polar.team_deletions kind 'member') and each seat such a member
-- holds, pending or claimed (kind 'seat'), with the seat's subscription (or order) so the
-- sync function can check, before it revokes, that Polar's seat is still that member's (Polar
-- reuses a revoked seat for the next assignment: revoking by id alone could take someone
-- else's seat).
--
-- Access ends at once, in the database: a hard delete sets the member's user_id to null (the
-- foreign key's `on delete set null`); a soft delete sets it to null here; and a member event
-- that arrives later for a soft-deleted user links nothing (polar.unlink_soft_deleted_member).
--
-- The sync function ({"scope":"deletions"}) takes pending rows (seats first), revokes each
-- seat (DELETE /v1/customer-seats/{id}) and deletes each member
-- (DELETE /v1/customers/{customer_id}/members/{member_id}); 404 is done. Polar refuses to
-- delete a team's only owner (422): that row stays pending with outcome 'owner_kept', tried
-- again at most once an hour, until the team has another owner or is deleted.
--
-- New functions only; nothing earlier is replaced.
-- =====================================================================================

create table polar.team_deletions (
  id bigint generated always as identity primary key,
  user_id uuid not null,
  kind text not null check (kind in ('seat', 'member')),
  polar_id text not null,
  polar_customer_id text not null,
  team_id uuid not null,
  polar_member_id text not null,
  role text,
  polar_subscription_id text,
  polar_order_id text,
  requested_at timestamptz not null default now(),
  attempts integer not null default 0,
  last_error text,
  last_attempt_at timestamptz,
  outcome text check (outcome in ('revoked', 'deleted', 'absent', 'not_held', 'owner_kept')),
  completed_at timestamptz,
  unique (user_id, kind, polar_id)
);

comment on table polar.team_deletions is
  'One row per seat to revoke and per member to delete in Polar for a deleted user; written in the deleting transaction, processed by sync {"scope":"deletions"} until Polar confirms.';
comment on column polar.team_deletions.polar_member_id is
  'The member the user was: for a seat, the holder it must still have when it is revoked.';
comment on column polar.team_deletions.outcome is
  'revoked / deleted: Polar did it; absent: Polar had no such seat or member (404); not_held: the seat was already revoked or held by another member, so it was left alone; owner_kept: Polar refused to delete the team''s only owner (still pending).';

create index team_deletions_pending_idx
  on polar.team_deletions (requested_at, id) where completed_at is null;

alter table polar.team_deletions enable row level security;
revoke all on table polar.team_deletions from public, anon, authenticated, service_role;

-- ----- polar.queue_team_member_deletion ----------------------------------------------------
-- Queues the deletion of one member for a deleted user, and the revocation of every seat the
-- member holds (pending or claimed). A member already removed is left alone (Polar has
-- deleted it and revoked its seats). Idempotent. Internal.
create function polar.queue_team_member_deletion(user_id uuid, polar_member_id text)
returns void
language sql
volatile
security invoker
set search_path = ''
as $$
  insert into polar.team_deletions as d (user_id, kind, polar_id, polar_customer_id, team_id,
    polar_member_id, role)
  select queue_team_member_deletion.user_id, 'member', m.polar_member_id, t.polar_customer_id,
    m.team_id, m.polar_member_id, m.role
  from public.polar_team_members as m
  join public.polar_teams as t on t.team_id = m.team_id
  where m.polar_member_id = queue_team_member_deletion.polar_member_id and not m.removed
  on conflict (user_id, kind, polar_id) do nothing;

  insert into polar.team_deletions as d (user_id, kind, polar_id, polar_customer_id, team_id,
    polar_member_id, polar_subscription_id, polar_order_id)
  select queue_team_member_deletion.user_id, 'seat', s.polar_seat_id, t.polar_customer_id,
    s.team_id, s.polar_member_id, s.polar_subscription_id, s.polar_order_id
  from public.polar_team_seats as s
  join public.polar_team_members as m
    on m.polar_member_id = s.polar_member_id and m.team_id = s.team_id
  join public.polar_teams as t on t.team_id = s.team_id
  where s.polar_member_id = queue_team_member_deletion.polar_member_id
    and s.status in ('pending', 'claimed')
    and not m.removed
  on conflict (user_id, kind, polar_id) do nothing;
$$;

revoke all on function polar.queue_team_member_deletion(uuid, text)
  from public, anon, authenticated, service_role;

-- ----- Hard delete: the member's link goes by the foreign key ------------------------------
-- Trigger function (AFTER UPDATE OF user_id on polar_team_members): when the link goes
-- because its user no longer exists (the foreign key's `on delete set null`, which runs in the
-- deleting transaction), queue that member. A link that goes while its user still exists
-- queues nothing here (a soft delete queues in polar.record_soft_deleted_member).
create function polar.record_deleted_member() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (select 1 from auth.users as u where u.id = old.user_id) then
    perform polar.queue_team_member_deletion(old.user_id, old.polar_member_id);
  end if;
  return null;
end;
$$;

revoke all on function polar.record_deleted_member() from public, anon, authenticated, service_role;

create trigger polar_record_deleted_member
  after update of user_id on public.polar_team_members
  for each row when (old.user_id is not null and new.user_id is null and not old.removed)
  execute function polar.record_deleted_member();

-- ----- Soft delete: queue, then end the link now -------------------------------------------
-- Trigger function (AFTER UPDATE OF deleted_at on auth.users): auth.admin.deleteUser(id, true)
-- keeps the auth.users row, so the foreign key does nothing: queue each of the user's members
-- and their seats, then unlink them, so the gates stop counting them in this transaction.
create function polar.record_soft_deleted_member() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_member text;
begin
  for v_member in
    select m.polar_member_id from public.polar_team_members as m
    where m.user_id = new.id and not m.removed
    for update
  loop
    perform polar.queue_team_member_deletion(new.id, v_member);
  end loop;
  update public.polar_team_members as m set user_id = null where m.user_id = new.id;
  return null;
end;
$$;

revoke all on function polar.record_soft_deleted_member()
  from public, anon, authenticated, service_role;

create trigger polar_record_soft_deleted_member
  after update of deleted_at on auth.users
  for each row when (old.deleted_at is null and new.deleted_at is not null)
  execute function polar.record_soft_deleted_member();

-- Trigger function (BEFORE INSERT OR UPDATE OF user_id on polar_team_members): a member event
-- for a soft-deleted user (its auth.users row is still there) links nothing, so a late
-- member.updated cannot give a deleted account its seat back.
create function polar.unlink_soft_deleted_member() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.user_id is not null and exists (
    select 1 from auth.users as u where u.id = new.user_id and u.deleted_at is not null
  ) then
    new.user_id := null;
  end if;
  return new;
end;
$$;

revoke all on function polar.unlink_soft_deleted_member()
  from public, anon, authenticated, service_role;

create trigger polar_unlink_soft_deleted_member
  before insert or update of user_id on public.polar_team_members
  for each row execute function polar.unlink_soft_deleted_member();

-- ----- public.pending_polar_team_deletions -------------------------------------------------
-- Pending rows, oldest first, each user's seats before their members; a member Polar kept as
-- the team's only owner comes back at most once an hour. service_role only.
create function public.pending_polar_team_deletions(max_rows integer default 50)
returns table (
  id bigint,
  user_id uuid,
  kind text,
  polar_id text,
  polar_customer_id text,
  polar_member_id text,
  role text,
  polar_subscription_id text,
  polar_order_id text,
  attempts integer,
  outcome text
)
language sql
stable
security definer
set search_path = ''
as $$
  select d.id, d.user_id, d.kind, d.polar_id, d.polar_customer_id, d.polar_member_id, d.role,
    d.polar_subscription_id, d.polar_order_id, d.attempts, d.outcome
  from polar.team_deletions as d
  where d.completed_at is null
    and (d.outcome is distinct from 'owner_kept' or d.last_attempt_at < now() - interval '1 hour')
  order by d.requested_at, d.kind desc, d.id
  limit greatest(pending_polar_team_deletions.max_rows, 0);
$$;

comment on function public.pending_polar_team_deletions(integer) is
  'Seats to revoke and members to delete in Polar for deleted users, oldest first, seats first. service_role only.';
revoke all on function public.pending_polar_team_deletions(integer)
  from public, anon, authenticated;
grant execute on function public.pending_polar_team_deletions(integer) to service_role;

-- ----- public.finish_polar_team_deletion ---------------------------------------------------
-- Records one attempt. `outcome` revoked, deleted, absent or not_held: done. owner_kept:
-- Polar refused to delete the only owner; stays pending (with `error` as the reason). Any
-- other attempt passes `error` and no outcome: counted, stays pending. service_role only.
create function public.finish_polar_team_deletion(
  id bigint,
  outcome text default null,
  error text default null
) returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if finish_polar_team_deletion.outcome is null and finish_polar_team_deletion.error is null then
    raise exception 'an outcome or an error is required' using errcode = '22023';
  end if;
  if finish_polar_team_deletion.outcome is not null and finish_polar_team_deletion.outcome
    not in ('revoked', 'deleted', 'absent', 'not_held', 'owner_kept') then
    raise exception 'unknown outcome %', finish_polar_team_deletion.outcome using errcode = '22023';
  end if;
  update polar.team_deletions as d
  set attempts = d.attempts + 1,
      last_attempt_at = now(),
      last_error = finish_polar_team_deletion.error,
      outcome = coalesce(finish_polar_team_deletion.outcome, d.outcome),
      completed_at = case
        when finish_polar_team_deletion.outcome is not null
          and finish_polar_team_deletion.outcome <> 'owner_kept' then now()
      end
  where d.id = finish_polar_team_deletion.id and d.completed_at is null;
end;
$$;

comment on function public.finish_polar_team_deletion(bigint, text, text) is
  'Marks a seat revocation or member deletion done, kept (the only owner), or records a failed attempt. service_role only.';
revoke all on function public.finish_polar_team_deletion(bigint, text, text)
  from public, anon, authenticated;
grant execute on function public.finish_polar_team_deletion(bigint, text, text) to service_role;
