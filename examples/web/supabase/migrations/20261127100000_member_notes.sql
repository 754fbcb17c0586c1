-- =====================================================================================
-- The example app's own table, gated by this project's entitlement gate: notes that only
-- members holding the "pro" benefit (the local stack's demo product grants it) may read.
-- An app adds tables like this in its own migrations; this one is applied by the local
-- stack after the project's migrations.
-- =====================================================================================

create table public.member_notes (
  id bigint generated always as identity primary key,
  title text not null,
  body text not null,
  created_at timestamptz not null default now()
);

comment on table public.member_notes is
  'Members-only notes of the example app: readable by users who hold the "pro" entitlement.';

alter table public.member_notes enable row level security;
revoke all on table public.member_notes from public, anon, authenticated;
grant select on table public.member_notes to authenticated;

-- Policy: signed-in users who hold the "pro" benefit read every note. `(select …)` makes
-- Postgres evaluate the gate once per query rather than once per row.
create policy "Members with pro can read the notes"
  on public.member_notes
  for select
  to authenticated
  using ((select public.has_entitlement('pro')));

insert into public.member_notes (title, body) values
  ('Welcome to Pro', 'Thanks for subscribing. These notes are visible while your plan is active.'),
  ('Shortcuts', 'Press g then d to open the dashboard from anywhere.'),
  ('Roadmap', 'Team workspaces ship next month; Pro members get early access.');
