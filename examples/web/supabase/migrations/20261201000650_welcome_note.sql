-- =====================================================================================
-- The example app's own code on a billing change: when a subscription starts, a trigger on
-- public.polar_billing_changes writes a personal "Welcome to Pro" note. The row and the note
-- are written in the same transaction as the change, once however often Polar redelivers
-- (the changes table records each fact once). An app that sends an email instead would use
-- a Supabase Database Webhook on the same table (see docs/entitlements.md).
--
-- member_notes gains user_id: null for the notes every member reads, a user's id for that
-- user's own notes (members only too). The shared "Welcome to Pro" note gives way to the
-- personal one.
-- =====================================================================================

alter table public.member_notes
  add column user_id uuid references auth.users (id) on delete cascade;
comment on column public.member_notes.user_id is
  'null: a note for every member; else the one user who may read it (while a member).';
create index member_notes_user_id_idx on public.member_notes (user_id);

drop policy "Members with pro can read the notes" on public.member_notes;
-- Policy: signed-in users who hold the "pro" benefit read the shared notes and their own.
create policy "Members with pro can read the shared notes and their own"
  on public.member_notes
  for select
  to authenticated
  using (
    (user_id is null or user_id = (select auth.uid()))
    and (select public.has_entitlement('pro'))
  );

delete from public.member_notes where title = 'Welcome to Pro' and user_id is null;

-- Writes the welcome note for a subscription that started. Security definer: it runs inside
-- the webhook's transaction, as whichever role applied it, and writes a table that role may
-- not write.
create function public.write_welcome_note() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.member_notes (title, body, user_id)
  values (
    'Welcome to Pro',
    -- The date with no-break spaces, so it never wraps inside.
    'Thanks for subscribing on '
      || replace(to_char(new.occurred_at at time zone 'UTC', 'FMDD FMMonth YYYY'), ' ', chr(160))
      || '. These notes are visible while your plan is active.',
    new.user_id
  );
  return null;
end;
$$;

comment on function public.write_welcome_note() is
  'Trigger on polar_billing_changes: a personal "Welcome to Pro" note when a subscription starts.';
revoke all on function public.write_welcome_note() from public, anon, authenticated, service_role;

create trigger write_welcome_note
  after insert on public.polar_billing_changes
  for each row
  when (new.kind = 'subscription_started')
  execute function public.write_welcome_note();
