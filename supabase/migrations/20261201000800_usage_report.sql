-- =====================================================================================
-- usage_report (issue 18, point 3, last bullet): what the operator's reconcile report names
-- about the usage outbox public.polar_usage_events.
--
--   * public.polar_unsent_usage(older_than, max_rows): the rows Polar refused (a 422 for
--     their events; they keep Polar's reason in polar_refusal and are no longer sent), and
--     the rows still pending that were recorded more than `older_than` ago (one day by
--     default): every flush since has failed to deliver them. Answers the two counts and up
--     to max_rows of those rows, refused first, then oldest first.
-- service_role only; security definer like the other sync functions. Adds no table and
-- replaces no function.
-- =====================================================================================

-- ----- public.polar_unsent_usage ---------------------------------------------------------------
-- {"refused": <rows refused>, "stale": <rows pending, recorded before now() - older_than>,
--  "older_than": "<the interval>", "events": [{id, user_id, meter, external_id, units,
--  recorded_at, state: "refused" | "pending", reason}]}. A row recorded exactly `older_than`
-- ago is not yet stale ("more than a day"). Delivered rows are never named.
create function public.polar_unsent_usage(
  older_than interval default interval '1 day',
  max_rows integer default 100
) returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  with unsent as (
    select e.id, e.user_id, e.meter, e.external_id, e.units, e.recorded_at,
      case when e.polar_refusal is not null then 'refused' else 'pending' end as state,
      e.polar_refusal as reason
    from public.polar_usage_events as e
    where e.delivered_at is null
      and (e.polar_refusal is not null
        or e.recorded_at < now() - coalesce(polar_unsent_usage.older_than, interval '1 day'))
  ), named as (
    select u.* from unsent as u
    order by (u.state = 'pending'), u.recorded_at, u.id
    limit greatest(coalesce(polar_unsent_usage.max_rows, 100), 0)
  )
  select jsonb_build_object(
    'refused', (select count(*) from unsent where state = 'refused'),
    'stale', (select count(*) from unsent where state = 'pending'),
    'older_than', coalesce(polar_unsent_usage.older_than, interval '1 day')::text,
    'events', coalesce((
      select jsonb_agg(jsonb_build_object(
          'id', n.id, 'user_id', n.user_id, 'meter', n.meter, 'external_id', n.external_id,
          'units', n.units, 'recorded_at', n.recorded_at, 'state', n.state, 'reason', n.reason)
        order by (n.state = 'pending'), n.recorded_at, n.id)
      from named as n), '[]'::jsonb));
$$;

comment on function public.polar_unsent_usage(interval, integer) is
  'Usage rows Polar refused, and rows still pending recorded more than older_than (1 day) ago: counts and up to max_rows of them, for the reconcile report. service_role only.';

-- ----- Access --------------------------------------------------------------------------------
revoke all on function public.polar_unsent_usage(interval, integer)
  from public, anon, authenticated;
grant execute on function public.polar_unsent_usage(interval, integer) to service_role;
