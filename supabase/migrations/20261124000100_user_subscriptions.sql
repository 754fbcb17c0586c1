-- =====================================================================================
-- user_subscriptions: each user's link to their Polar customer, and the state of their
-- subscription as Polar last reported it. Written only by the polar-webhooks function
-- (service role); read by the user it belongs to and by the portal function on their
-- behalf.
-- =====================================================================================

create table public.user_subscriptions (
  user_id uuid primary key references auth.users (id) on delete cascade,
  polar_customer_id text unique,
  polar_subscription_id text,
  status text,
  product_id text,
  current_period_end timestamptz,
  cancel_at_period_end boolean not null default false,
  polar_modified_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.user_subscriptions is
  'One row per user: their Polar customer and subscription state, kept current by Polar webhooks.';
comment on column public.user_subscriptions.polar_customer_id is
  'Polar customer id; the portal function opens this customer''s portal.';
comment on column public.user_subscriptions.status is
  'Polar subscription status (active, trialing, past_due, canceled, …) as last reported.';
comment on column public.user_subscriptions.polar_modified_at is
  'Polar''s modification time of the state stored here; older events never overwrite it.';

-- ----- Keep updated_at true on every write ----------------------------------------------
-- Trigger function: sets updated_at on the row being written.
create function public.user_subscriptions_set_updated_at() returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

revoke all on function public.user_subscriptions_set_updated_at() from public, anon, authenticated;

create trigger user_subscriptions_set_updated_at
  before update on public.user_subscriptions
  for each row execute function public.user_subscriptions_set_updated_at();

-- ----- Access: deny by default, then grant exactly what is needed -----------------------
alter table public.user_subscriptions enable row level security;

revoke all on table public.user_subscriptions from public, anon, authenticated;
grant select on table public.user_subscriptions to authenticated;
grant select, insert, update, delete on table public.user_subscriptions to service_role;

-- Policy: a signed-in user sees their own row and no one else's. No insert, update or
-- delete policy exists, so only the service role (which bypasses RLS) writes.
create policy "Users can read their own subscription"
  on public.user_subscriptions
  for select
  to authenticated
  using ((select auth.uid()) = user_id);
