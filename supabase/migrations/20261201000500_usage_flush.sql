-- =====================================================================================
-- usage_flush: what the usage flush (sync scope "usage", issue 18 point 3) needs to send
-- the outbox public.polar_usage_events to Polar's POST /v1/events/ingest.
--
--   * polar_usage_events.claimed_until: a short lease, so two flushers at once never send
--     the same row concurrently (Polar's dedupe on external_id would absorb a resend anyway).
--   * public.claim_polar_usage_events(max_rows, lease_seconds): pending rows (not delivered,
--     not refused, not claimed by a live lease), oldest first, claimed with
--     `for update skip locked`.
--   * public.finish_polar_usage_events(delivered, refused, released): marks rows delivered
--     (after Polar's 2xx), stores Polar's refusal (a 422 for that row's events), and lets go
--     of the claim of rows that stay pending.
--   * public.pending_polar_usage_count(): rows still to send.
-- All service_role only; security definer like the other sync functions, so the flush does
-- not depend on the table grants of the role it runs as.
-- =====================================================================================

alter table public.polar_usage_events add column claimed_until timestamptz;
comment on column public.polar_usage_events.claimed_until is
  'Until when a usage flush has claimed the row (claim_polar_usage_events); another flush skips it until then.';

-- ----- public.claim_polar_usage_events ----------------------------------------------------------
-- Up to max_rows pending rows, oldest first (recorded_at, then id), each claimed for
-- lease_seconds. Rows another transaction has locked, or another flush has claimed and not
-- finished, are skipped. service_role only.
create function public.claim_polar_usage_events(max_rows integer, lease_seconds integer default 60)
returns table (
  id bigint,
  user_id uuid,
  event_name text,
  units_property text,
  units numeric,
  external_id text,
  metadata jsonb,
  recorded_at timestamptz
)
language sql
volatile
security definer
set search_path = ''
as $$
  with claimable as (
    select e.id
    from public.polar_usage_events as e
    where e.delivered_at is null
      and e.polar_refusal is null
      and (e.claimed_until is null or e.claimed_until < now())
    order by e.recorded_at, e.id
    limit greatest(claim_polar_usage_events.max_rows, 0)
    for update skip locked
  )
  update public.polar_usage_events as e
  set claimed_until = now() + make_interval(secs => claim_polar_usage_events.lease_seconds)
  from claimable as c
  where e.id = c.id
  returning e.id, e.user_id, e.event_name, e.units_property, e.units, e.external_id,
    e.metadata, e.recorded_at;
$$;

comment on function public.claim_polar_usage_events(integer, integer) is
  'Claims up to max_rows pending usage rows for lease_seconds, oldest first, skipping rows claimed elsewhere. service_role only.';

-- ----- public.finish_polar_usage_events ---------------------------------------------------------
-- After a flush's Polar calls: `delivered` ids are marked delivered now, `refused` (an array
-- of {id, reason}) get Polar's reason (at most 500 characters), `released` stay pending and
-- may be claimed again at once. Every one loses its claim. Rows already delivered or refused
-- are left as they are. Answers the rows pending afterwards. service_role only.
create function public.finish_polar_usage_events(
  delivered bigint[],
  refused jsonb default '[]',
  released bigint[] default '{}'
) returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  update public.polar_usage_events as e
  set delivered_at = now(), claimed_until = null
  where e.id = any (finish_polar_usage_events.delivered)
    and e.delivered_at is null and e.polar_refusal is null;

  update public.polar_usage_events as e
  set polar_refusal = left(coalesce(r.reason, 'refused by Polar'), 500), claimed_until = null
  from jsonb_to_recordset(coalesce(finish_polar_usage_events.refused, '[]'))
    as r (id bigint, reason text)
  where e.id = r.id and e.delivered_at is null and e.polar_refusal is null;

  update public.polar_usage_events as e
  set claimed_until = null
  where e.id = any (finish_polar_usage_events.released);

  return public.pending_polar_usage_count();
end;
$$;

-- ----- public.pending_polar_usage_count --------------------------------------------------------
-- Rows not delivered and not refused (claimed or not). service_role only.
create function public.pending_polar_usage_count() returns bigint
language sql
stable
security definer
set search_path = ''
as $$
  select count(*) from public.polar_usage_events as e
  where e.delivered_at is null and e.polar_refusal is null;
$$;

comment on function public.finish_polar_usage_events(bigint[], jsonb, bigint[]) is
  'Marks usage rows delivered or refused (with Polar''s reason) or releases their claim; answers the rows still pending. service_role only.';
comment on function public.pending_polar_usage_count() is
  'Usage rows not yet delivered nor refused. service_role only.';

-- ----- Access --------------------------------------------------------------------------------
revoke all on function
  public.claim_polar_usage_events(integer, integer),
  public.finish_polar_usage_events(bigint[], jsonb, bigint[]),
  public.pending_polar_usage_count()
  from public, anon, authenticated;
grant execute on function
  public.claim_polar_usage_events(integer, integer),
  public.finish_polar_usage_events(bigint[], jsonb, bigint[]),
  public.pending_polar_usage_count()
  to service_role;
