-- =====================================================================================
-- identity: a Supabase user and a Polar customer are linked by the customer's
-- external_id (the user's id) and by nothing else.
--
--   * polar.user_id_of(text), polar.identify(jsonb), polar.lock_user_subscription(uuid):
--     what every writer shares: which user an external_id names, which user a change
--     belongs to (or why it belongs to none), and the user's row locked first, so
--     concurrent first events of a new subscriber queue up instead of colliding.
--   * public.link_polar_customer(...): stores the link checkout verified with Polar
--     (service_role only).
-- public.apply_polar_webhook is rebuilt on these in 20261127000200_entitlements.sql.
--
-- Why external_id only: Polar's external_id is immutable once set and no buyer can edit
-- it. A checkout's email can be edited by the buyer, and metadata.user_id follows the
-- checkout, not the customer, so either could hand one user's customer to another.
-- =====================================================================================

-- ----- polar.user_id_of ----------------------------------------------------------------
-- The auth.users id an external_id names, or null when it is not a UUID or no such user
-- exists. Internal: called by the security definer functions below, so it runs with
-- their owner's rights; no API role may call it.
create function polar.user_id_of(external_id text) returns uuid
language sql
stable
security invoker
set search_path = ''
as $$
  select u.id
  from auth.users as u
  where user_id_of.external_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    and u.id = user_id_of.external_id::uuid;
$$;

comment on function polar.user_id_of(text) is
  'The auth.users id that a Polar customer''s external_id names, or null. Internal.';
revoke all on function polar.user_id_of(text) from public, anon, authenticated, service_role;

-- ----- polar.lock_user_subscription -------------------------------------------------------
-- Makes sure the user's row exists (an empty one if need be) and locks it until the
-- transaction ends. Every write to a user's row takes this lock first, after claiming
-- its delivery, so concurrent writers for one user queue up instead of racing on
-- insert ... on conflict, which raised unique violations on polar_customer_id and
-- deadlocks when a new subscriber's first events arrived together. Internal.
create function polar.lock_user_subscription(user_id uuid) returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  insert into public.user_subscriptions (user_id)
  values (lock_user_subscription.user_id)
  on conflict on constraint user_subscriptions_pkey do nothing;
  perform 1
  from public.user_subscriptions as s
  where s.user_id = lock_user_subscription.user_id
  for update;
end;
$$;

comment on function polar.lock_user_subscription(uuid) is
  'Creates the user''s user_subscriptions row if missing and locks it for the transaction. Internal.';
revoke all on function polar.lock_user_subscription(uuid)
  from public, anon, authenticated, service_role;

-- ----- polar.identify ----------------------------------------------------------------------
-- Which user a change belongs to: the customer's external_id, and nothing else. Answers the
-- user, or null and the reason to skip it:
--   * no external_id: 'customer has no external_id', whatever the metadata says;
--   * a metadata.user_id that disagrees with external_id: 'identity conflict';
--   * an external_id that is no user: 'no user matches external_id';
--   * a customer another user's row holds: 'customer is linked to another user'. Checked
--     without a lock: only a customer whose external_id is that other user could be linked
--     to them, and external_id never changes.
-- Internal.
create function polar.identify(change jsonb, out user_id uuid, out reason text)
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  if change ->> 'external_id' is null then
    reason := 'customer has no external_id';
  elsif change ->> 'metadata_user_id' is not null
    and lower(change ->> 'metadata_user_id') <> lower(change ->> 'external_id') then
    reason := 'identity conflict';
  else
    user_id := polar.user_id_of(change ->> 'external_id');
    if user_id is null then
      reason := 'no user matches external_id';
    elsif exists (
      select 1 from public.user_subscriptions as s
      where s.polar_customer_id = change ->> 'customer_id' and s.user_id <> identify.user_id
    ) then
      reason := 'customer is linked to another user';
    end if;
  end if;
end;
$$;

comment on function polar.identify(jsonb) is
  'The user a change belongs to (by the customer''s external_id only), or the reason to skip it. Internal.';
revoke all on function polar.identify(jsonb) from public, anon, authenticated, service_role;

-- ----- public.link_polar_customer ----------------------------------------------------------
-- Stores the link that checkout (or the operator's link-customer task) verified with Polar:
-- the customer Polar returned for GET /v1/customers/external/{user id}, or just created
-- with that external_id. Refuses, changing nothing, when
--   * external_id is not the user's id ('identity conflict'),
--   * the user does not exist ('no such user'),
--   * another user's row holds the customer ('customer is linked to another user').
-- A verified link replaces whatever the row held before (a customer Polar has since
-- deleted, or a link an older version made from metadata.user_id); its clock moves to
-- the later of the stored version and the customer's, so an older customer event
-- delivered afterwards stays stale. With dry_run, the answer says what would happen and
-- nothing is written.
-- Returns {outcome: 'linked' | 'unchanged' | 'refused', reason?}.
create function public.link_polar_customer(
  user_id uuid,
  customer_id text,
  external_id text,
  customer_version timestamptz,
  dry_run boolean default false
) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_current record;
begin
  if link_polar_customer.user_id is null
    or link_polar_customer.customer_id is null
    or link_polar_customer.customer_version is null then
    raise exception 'user_id, customer_id and customer_version are required'
      using errcode = 'null_value_not_allowed';
  end if;
  if link_polar_customer.external_id is null
    or lower(link_polar_customer.external_id) <> link_polar_customer.user_id::text then
    return jsonb_build_object('outcome', 'refused', 'reason', 'identity conflict');
  end if;
  if polar.user_id_of(link_polar_customer.external_id) is null then
    return jsonb_build_object('outcome', 'refused', 'reason', 'no such user');
  end if;
  if exists (
    select 1 from public.user_subscriptions as s
    where s.polar_customer_id = link_polar_customer.customer_id
      and s.user_id <> link_polar_customer.user_id
  ) then
    return jsonb_build_object('outcome', 'refused', 'reason', 'customer is linked to another user');
  end if;
  if not dry_run then
    perform polar.lock_user_subscription(link_polar_customer.user_id);
  end if;

  select s.polar_customer_id, s.polar_customer_modified_at into v_current
  from public.user_subscriptions as s
  where s.user_id = link_polar_customer.user_id;
  if v_current.polar_customer_id is not distinct from link_polar_customer.customer_id then
    return jsonb_build_object('outcome', 'unchanged');
  end if;
  if not dry_run then
    update public.user_subscriptions as s
    set polar_customer_id = link_polar_customer.customer_id,
        polar_customer_modified_at = greatest(
          s.polar_customer_modified_at, link_polar_customer.customer_version)
    where s.user_id = link_polar_customer.user_id;
  end if;
  return jsonb_build_object('outcome', 'linked');
end;
$$;

comment on function public.link_polar_customer(uuid, text, text, timestamptz, boolean) is
  'Links a user to the Polar customer whose external_id is the user''s id, as verified with Polar. Returns {outcome, reason?}. service_role only.';

revoke all on function public.link_polar_customer(uuid, text, text, timestamptz, boolean)
  from public, anon, authenticated;
grant execute on function public.link_polar_customer(uuid, text, text, timestamptz, boolean)
  to service_role;
