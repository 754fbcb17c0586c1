-- =====================================================================================
-- Supabase-compatible bootstrap for a plain PostgreSQL (PGlite, Debian's server).
--
-- A hosted or CLI-started Supabase database already has all of this; the migrations
-- assume it. Only what the migrations and tests touch is recreated, the way Supabase
-- defines it. Safe to run twice.
-- =====================================================================================

-- ----- Roles: PostgREST switches to one of these per request ---------------------------
do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator noinherit login;
  end if;
end
$$;
grant anon, authenticated, service_role to authenticator;

-- ----- Schema auth: users and the helpers that RLS policies call -----------------------
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

-- The columns of Supabase's auth.users that this project reads or that tests fill.
create table if not exists auth.users (
  id uuid primary key default gen_random_uuid(),
  email text unique,
  encrypted_password text,
  role text not null default 'authenticated',
  aud text not null default 'authenticated',
  raw_app_meta_data jsonb not null default '{}'::jsonb,
  raw_user_meta_data jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Set by auth.admin.deleteUser(id, true): a soft delete is an UPDATE, not a DELETE.
  deleted_at timestamptz
);
alter table auth.users add column if not exists deleted_at timestamptz;
-- Set when the user confirmed their email; invitations by email go to confirmed addresses only.
alter table auth.users add column if not exists email_confirmed_at timestamptz;

-- The caller's user id. After a transaction that set request.jwt.claims, the setting reads
-- back as '' rather than NULL, which must mean "no user", not a cast error.
create or replace function auth.uid() returns uuid
language sql stable
as $$
  select nullif(
    coalesce(
      nullif(current_setting('request.jwt.claim.sub', true), ''),
      (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    ),
    ''
  )::uuid
$$;

-- The caller's role claim.
create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

-- All of the caller's claims.
create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.jwt() to anon, authenticated, service_role;

-- ----- Schema public: what Supabase grants by default ----------------------------------
-- Every new table, sequence and function in public is open to the API roles unless a
-- migration revokes it; our migrations must hold up against exactly this.
grant usage on schema public to anon, authenticated, service_role;
alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
alter default privileges in schema public grant all on functions to anon, authenticated, service_role;
