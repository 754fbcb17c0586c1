-- =====================================================================================
-- checkout_guard (issue 20, point 1): one subscription unless the organization allows
-- several. Polar refuses a second billable subscription (active, trialing or past_due) of a
-- customer when the organization's allow_multiple_subscriptions is off, but only on its own
-- checkout page, after the buyer has typed a card. The checkout function asks this first,
-- in one round trip, and answers 409 before a checkout exists.
--
--   * public.polar_checkout_guard(user_id, product_ids): the user's live subscription, if
--     any, and which of the products the catalog knows as recurring or one-time.
-- Replaces no function.
-- =====================================================================================

create function public.polar_checkout_guard(user_id uuid, product_ids text[])
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'live_subscription_id', (
      select s.id
      from public.polar_subscriptions as s
      join public.user_subscriptions as u on u.user_id = s.user_id
      where s.user_id = polar_checkout_guard.user_id
        and s.ended_at is null
        and (s.status = 'past_due'
          or polar.is_active_now(s.status, s.in_latest_state, s.polar_modified_at,
            u.polar_state_at))
      order by s.polar_modified_at desc, s.id
      limit 1),
    'recurring', coalesce((
      select jsonb_agg(p.id order by p.id)
      from public.polar_products as p
      where p.id = any(polar_checkout_guard.product_ids) and p.is_recurring), '[]'),
    'one_time', coalesce((
      select jsonb_agg(p.id order by p.id)
      from public.polar_products as p
      where p.id = any(polar_checkout_guard.product_ids) and not p.is_recurring), '[]'));
$$;

comment on function public.polar_checkout_guard(uuid, text[]) is
  'For the checkout function: the user''s live (billable) subscription id or null, and which of product_ids the catalog knows as recurring or one-time. Returns {live_subscription_id, recurring, one_time}. service_role only.';
revoke all on function public.polar_checkout_guard(uuid, text[]) from public, anon, authenticated;
grant execute on function public.polar_checkout_guard(uuid, text[]) to service_role;
