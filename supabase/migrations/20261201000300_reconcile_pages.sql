-- =====================================================================================
-- reconcile_pages: the operator's reconcile over Polar's organization-wide lists, one
-- worker per run.
--
--   * A lease on polar.reconcile_runs: public.begin_polar_reconcile takes it (with an
--     expiry a bit over the sync function's 120 s budget), every save renews it,
--     public.release_polar_reconcile gives it back when the call ends. While another call
--     holds it, begin answers {"busy": true} and the function answers 409.
--   * polar.reconcile_staged: the pages a run read (customers, active subscriptions,
--     granted benefits, customer meters), already reduced to the change format, keyed by
--     the run, so a run that spans several calls resumes where it was.
--   * public.apply_polar_reconcile_batch: assembles each staged customer's snapshot (its
--     active subscriptions, grants and meters, labeled with the run's start, which is no
--     later than its first page) and applies it through public.apply_polar_state, the
--     webhooks' rules, for a batch of customers in one call.
--   * public.apply_polar_states: a batch of pulled changes (the subscriptions that ended
--     since the last run), each through public.apply_polar_state.
--   * public.polar_reconcile_stale / finish_polar_reconcile_stale: the customers whose
--     subscriptions are still stored as live after that, to pull one by one.
--
-- Replaces (drops) public.begin_polar_reconcile(boolean) and
-- public.save_polar_reconcile(bigint, integer, text, jsonb) of 20261127000300_sync.sql:
-- both now take the lease. Runs left unfinished by the per-customer reconcile are closed:
-- their progress means nothing to the paged one.
-- =====================================================================================

-- ----- polar.reconcile_runs: the lease and the new phases ------------------------------
update polar.reconcile_runs set finished_at = now() where finished_at is null;

alter table polar.reconcile_runs
  drop constraint reconcile_runs_phase_check,
  add constraint reconcile_runs_phase_check check (phase in (
    'customers', 'subscriptions', 'grants', 'meters', 'apply', 'ended', 'stale', 'linked',
    'done')),
  add column lease_token uuid,
  add column lease_expires_at timestamptz,
  add column lease_seconds integer not null default 150 check (lease_seconds > 0);

comment on column polar.reconcile_runs.lease_token is
  'The call working the run now; null when none. Only its holder may save the run.';
comment on column polar.reconcile_runs.lease_expires_at is
  'When the lease lapses unless renewed (every save renews it), so a killed worker blocks the next one for at most lease_seconds.';

-- ----- polar.reconcile_staged ------------------------------------------------------------
create table polar.reconcile_staged (
  run_id bigint not null references polar.reconcile_runs (id) on delete cascade,
  kind text not null
    check (kind in ('customer', 'subscription', 'grant', 'meter', 'stale')),
  id text not null,
  customer_id text not null,
  external_id text,
  body jsonb not null,
  done boolean not null default false,
  primary key (run_id, kind, id)
);

comment on table polar.reconcile_staged is
  'What a reconcile run read from Polar''s lists, in the change format: customers ({version}), active subscriptions, granted benefits and customer meters; and ''stale'' rows, subscriptions stored as live that no page listed ({user_id}). Dropped with the run''s next successor.';

create index reconcile_staged_customer_idx on polar.reconcile_staged (run_id, customer_id);
create index reconcile_staged_pending_idx
  on polar.reconcile_staged (run_id, kind, id) where not done;

alter table polar.reconcile_staged enable row level security;
revoke all on table polar.reconcile_staged from public, anon, authenticated, service_role;

-- ----- polar.hold_reconcile_lease ------------------------------------------------------------
-- Locks the run and renews its lease when `lease` holds it; raises otherwise (the lease
-- lapsed and another call took the run over). Internal.
create function polar.hold_reconcile_lease(id bigint, lease uuid) returns polar.reconcile_runs
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_run polar.reconcile_runs;
begin
  update polar.reconcile_runs as r
  set lease_expires_at = now() + make_interval(secs => r.lease_seconds)
  where r.id = hold_reconcile_lease.id
    and r.lease_token = hold_reconcile_lease.lease
    and r.finished_at is null
  returning * into v_run;
  if v_run.id is null then
    raise exception 'The reconcile lease of run % is not held', hold_reconcile_lease.id
      using errcode = 'lock_not_available';
  end if;
  return v_run;
end;
$$;

comment on function polar.hold_reconcile_lease(bigint, uuid) is
  'Renews a reconcile run''s lease for its holder; raises 55P03 for anyone else. Internal.';
revoke all on function polar.hold_reconcile_lease(bigint, uuid)
  from public, anon, authenticated, service_role;

-- ----- public.begin_polar_reconcile -----------------------------------------------------------
drop function public.begin_polar_reconcile(boolean);

-- Starts a reconcile run, or resumes the unfinished one, and takes its lease for
-- `lease_seconds`. Answers
--   * {id, started_at, next_page, phase, counts, resumed, lease, since}: the caller works
--     the run and passes `lease` to every save; `since` is when the last finished run
--     started (null for the first), from when subscriptions that ended must be read;
--   * {busy: true, id, lease_expires_at}: another call holds the lease; do nothing;
--   * null: resume_only and no run is unfinished.
-- A new run drops the staged pages of the runs before it. service_role only.
create function public.begin_polar_reconcile(
  resume_only boolean default false,
  lease_seconds integer default 150
) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_run polar.reconcile_runs;
  v_resumed boolean := true;
begin
  if lease_seconds is null or lease_seconds <= 0 then
    raise exception 'lease_seconds must be positive' using errcode = 'invalid_parameter_value';
  end if;
  -- One caller at a time decides whether to start a run, and who holds it.
  perform pg_advisory_xact_lock(hashtext('polar.reconcile_runs'));
  select * into v_run from polar.reconcile_runs as r
  where r.finished_at is null order by r.id desc limit 1;
  if v_run.id is not null and v_run.lease_token is not null and v_run.lease_expires_at > now() then
    return jsonb_build_object('busy', true, 'id', v_run.id,
      'lease_expires_at', v_run.lease_expires_at);
  end if;
  if v_run.id is null then
    if resume_only then
      return null;
    end if;
    delete from polar.reconcile_staged as s where true;
    insert into polar.reconcile_runs default values returning * into v_run;
    v_resumed := false;
  end if;
  update polar.reconcile_runs as r
  set lease_token = gen_random_uuid(),
      lease_seconds = begin_polar_reconcile.lease_seconds,
      lease_expires_at = now() + make_interval(secs => begin_polar_reconcile.lease_seconds)
  where r.id = v_run.id
  returning * into v_run;
  return jsonb_build_object('id', v_run.id, 'started_at', v_run.started_at,
    'next_page', v_run.next_page, 'phase', v_run.phase, 'counts', v_run.counts,
    'resumed', v_resumed, 'lease', v_run.lease_token,
    'since', (select max(r.started_at) from polar.reconcile_runs as r
      where r.finished_at is not null and r.phase = 'done' and r.id < v_run.id));
end;
$$;

comment on function public.begin_polar_reconcile(boolean, integer) is
  'Starts or resumes a reconcile run and takes its lease; {busy: true} while another call holds it. service_role only.';

-- ----- public.save_polar_reconcile ------------------------------------------------------------
drop function public.save_polar_reconcile(bigint, integer, text, jsonb);

-- Saves a run's progress and renews the lease; phase 'done' finishes it (and releases the
-- lease). Raises 55P03 when `lease` no longer holds the run. service_role only.
create function public.save_polar_reconcile(
  id bigint,
  lease uuid,
  next_page integer,
  phase text,
  counts jsonb
) returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform polar.hold_reconcile_lease(save_polar_reconcile.id, save_polar_reconcile.lease);
  update polar.reconcile_runs as r
  set next_page = save_polar_reconcile.next_page,
      phase = save_polar_reconcile.phase,
      counts = save_polar_reconcile.counts,
      finished_at = case when save_polar_reconcile.phase = 'done' then now() end,
      lease_token = case when save_polar_reconcile.phase = 'done' then null else r.lease_token end
  where r.id = save_polar_reconcile.id;
  if save_polar_reconcile.phase = 'done' then
    delete from polar.reconcile_staged as s where s.run_id = save_polar_reconcile.id;
  end if;
end;
$$;

comment on function public.save_polar_reconcile(bigint, uuid, integer, text, jsonb) is
  'Saves a reconcile run''s progress for the lease''s holder and renews the lease. service_role only.';

-- ----- public.release_polar_reconcile ---------------------------------------------------------
-- Gives the lease back when a call ends (done or partial), so the next call need not wait
-- for it to lapse. Does nothing when `lease` no longer holds the run. service_role only.
create function public.release_polar_reconcile(id bigint, lease uuid) returns void
language sql
volatile
security definer
set search_path = ''
as $$
  update polar.reconcile_runs as r
  set lease_token = null, lease_expires_at = null
  where r.id = release_polar_reconcile.id and r.lease_token = release_polar_reconcile.lease;
$$;

comment on function public.release_polar_reconcile(bigint, uuid) is
  'Releases a reconcile run''s lease. service_role only.';

-- ----- public.stage_polar_reconcile_page ------------------------------------------------------
-- Stores one page a run read and, in the same transaction, where the run is next (so a
-- call cut short repeats at most that page, and repeating it changes nothing). `items`:
-- [{id, customer_id, external_id, body}], already in the change format (the sync function
-- reduces Polar's objects as the webhooks do). service_role only.
create function public.stage_polar_reconcile_page(
  id bigint,
  lease uuid,
  kind text,
  items jsonb,
  next_page integer,
  phase text,
  counts jsonb
) returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if kind is null or kind not in ('customer', 'subscription', 'grant', 'meter') then
    raise exception 'kind must be customer, subscription, grant or meter'
      using errcode = 'invalid_parameter_value';
  end if;
  if jsonb_typeof(items) is distinct from 'array' or exists (
    select 1 from jsonb_array_elements(items) as item
    where item ->> 'id' is null or item ->> 'customer_id' is null
      or jsonb_typeof(item -> 'body') is distinct from 'object'
  ) then
    raise exception 'items must be [{id, customer_id, external_id, body}]'
      using errcode = 'invalid_parameter_value';
  end if;
  perform polar.hold_reconcile_lease(stage_polar_reconcile_page.id,
    stage_polar_reconcile_page.lease);
  insert into polar.reconcile_staged as s (run_id, kind, id, customer_id, external_id, body)
  select stage_polar_reconcile_page.id, stage_polar_reconcile_page.kind, item ->> 'id',
    item ->> 'customer_id', lower(nullif(item ->> 'external_id', '')), item -> 'body'
  from jsonb_array_elements(items) as item
  on conflict on constraint reconcile_staged_pkey do update
    set customer_id = excluded.customer_id,
        external_id = excluded.external_id,
        body = excluded.body;
  perform public.save_polar_reconcile(stage_polar_reconcile_page.id,
    stage_polar_reconcile_page.lease, stage_polar_reconcile_page.next_page,
    stage_polar_reconcile_page.phase, stage_polar_reconcile_page.counts);
end;
$$;

comment on function public.stage_polar_reconcile_page(bigint, uuid, text, jsonb, integer, text, jsonb) is
  'Stores a page a reconcile run read, and its progress, for the lease''s holder. service_role only.';

-- ----- public.apply_polar_reconcile_batch -----------------------------------------------------
-- Applies the next `max_customers` staged customers of the run (in id order) and marks
-- them done. Each customer's snapshot is assembled from the staged pages: its active
-- subscriptions, granted benefits and meters, labeled with the run's started_at (no later
-- than its first page, so a webhook snapshot built after that stays), and applied by
-- public.apply_polar_state for the user its external_id names, or, for a customer without
-- one, the user whose stored link it is (apply_polar_state decides whether that counts).
-- Each customer is applied in its own subtransaction: one failure is counted and the rest
-- go on. Subscriptions stored as live that the snapshot leaves out are staged as 'stale'.
-- Returns {customers, checked, changed, unchanged, orphaned, no_external_id, failures,
-- stale, remaining}. service_role only.
create function public.apply_polar_reconcile_batch(
  id bigint,
  lease uuid,
  max_customers integer default 200
) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_run polar.reconcile_runs;
  v_customer polar.reconcile_staged;
  v_user_id uuid;
  v_change jsonb;
  v_result jsonb;
  v_customers integer := 0;
  v_checked integer := 0;
  v_changed integer := 0;
  v_orphaned integer := 0;
  v_no_external_id integer := 0;
  v_failures integer := 0;
  v_stale integer := 0;
begin
  v_run := polar.hold_reconcile_lease(apply_polar_reconcile_batch.id,
    apply_polar_reconcile_batch.lease);
  for v_customer in
    select * from polar.reconcile_staged as s
    where s.run_id = v_run.id and s.kind = 'customer' and not s.done
    order by s.id
    limit greatest(max_customers, 1)
  loop
    v_customers := v_customers + 1;
    v_user_id := case
      when v_customer.external_id is not null then polar.user_id_of(v_customer.external_id)
      else (select u.user_id from public.user_subscriptions as u
        where u.polar_customer_id = v_customer.id)
    end;
    if v_user_id is null then
      if v_customer.external_id is null then
        v_no_external_id := v_no_external_id + 1;
      else
        v_orphaned := v_orphaned + 1;
      end if;
    else
      v_change := jsonb_build_object(
        'customer_id', v_customer.id,
        'external_id', v_customer.external_id,
        'metadata_user_id', null,
        'customer_version', v_customer.body ->> 'version',
        'customer_deleted', false,
        'subscription', null,
        'state', jsonb_build_object(
          'at', v_run.started_at,
          'subscriptions', coalesce((select jsonb_agg(i.body order by i.id)
            from polar.reconcile_staged as i
            where i.run_id = v_run.id and i.kind = 'subscription'
              and i.customer_id = v_customer.id), '[]'),
          'grants', coalesce((select jsonb_agg(i.body order by i.id)
            from polar.reconcile_staged as i
            where i.run_id = v_run.id and i.kind = 'grant' and i.customer_id = v_customer.id),
            '[]'),
          'meters', coalesce((select jsonb_agg(i.body order by i.id)
            from polar.reconcile_staged as i
            where i.run_id = v_run.id and i.kind = 'meter' and i.customer_id = v_customer.id),
            '[]')));
      begin
        v_result := public.apply_polar_state(v_user_id, v_change);
        if v_result ->> 'outcome' = 'skipped' then
          if v_result ->> 'reason' = 'customer has no external_id' then
            v_no_external_id := v_no_external_id + 1;
          elsif v_result ->> 'reason' = 'no user matches external_id' then
            v_orphaned := v_orphaned + 1;
          else
            v_failures := v_failures + 1;
            raise warning 'Reconcile run % skipped customer %: %', v_run.id, v_customer.id,
              v_result ->> 'reason';
          end if;
        else
          v_checked := v_checked + 1;
          if (v_result ->> 'changed')::boolean then
            v_changed := v_changed + 1;
          end if;
          insert into polar.reconcile_staged (run_id, kind, id, customer_id, body)
          select v_run.id, 'stale', stale.id, v_customer.id,
            jsonb_build_object('user_id', v_user_id)
          from jsonb_array_elements_text(v_result -> 'stale_subscriptions') as stale(id)
          on conflict on constraint reconcile_staged_pkey do nothing;
          v_stale := v_stale + coalesce(jsonb_array_length(v_result -> 'stale_subscriptions'), 0);
        end if;
      exception when others then
        v_failures := v_failures + 1;
        raise warning 'Reconcile run % failed on customer %: %', v_run.id, v_customer.id,
          sqlerrm;
      end;
    end if;
    update polar.reconcile_staged as s set done = true
    where s.run_id = v_run.id and s.kind = 'customer' and s.id = v_customer.id;
  end loop;
  return jsonb_build_object(
    'customers', v_customers,
    'checked', v_checked,
    'changed', v_changed,
    'unchanged', v_checked - v_changed,
    'orphaned', v_orphaned,
    'no_external_id', v_no_external_id,
    'failures', v_failures,
    'stale', v_stale,
    'remaining', exists (select 1 from polar.reconcile_staged as s
      where s.run_id = v_run.id and s.kind = 'customer' and not s.done));
end;
$$;

comment on function public.apply_polar_reconcile_batch(bigint, uuid, integer) is
  'Applies the next batch of a reconcile run''s staged customers through apply_polar_state. service_role only.';

-- ----- public.polar_reconcile_stale -----------------------------------------------------------
-- The customers of the run whose stale subscriptions (stored as live, listed by no page)
-- are still stored as live after the ended pages were applied, and not yet handled: their
-- subscriptions went past_due, unpaid or paused, or a page shifted under the read. The
-- sync function pulls each one's Customer State. service_role only.
create function public.polar_reconcile_stale(id bigint, max_rows integer default 50)
returns table (customer_id text, user_id uuid)
language sql
stable
security definer
set search_path = ''
as $$
  select s.customer_id, (min(s.body ->> 'user_id'))::uuid
  from polar.reconcile_staged as s
  join public.polar_subscriptions as p on p.id = s.id
  where s.run_id = polar_reconcile_stale.id and s.kind = 'stale' and not s.done
    and p.status in ('active', 'trialing') and not p.in_latest_state
  group by s.customer_id
  order by s.customer_id
  limit greatest(polar_reconcile_stale.max_rows, 1);
$$;

comment on function public.polar_reconcile_stale(bigint, integer) is
  'Customers of a reconcile run whose subscriptions are still stale after the ended pages. service_role only.';

-- Marks these customers' stale subscriptions handled (pulled, or failed: the next run
-- tries again). service_role only.
create function public.finish_polar_reconcile_stale(id bigint, lease uuid, customer_ids text[])
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform polar.hold_reconcile_lease(finish_polar_reconcile_stale.id,
    finish_polar_reconcile_stale.lease);
  update polar.reconcile_staged as s set done = true
  where s.run_id = finish_polar_reconcile_stale.id and s.kind = 'stale'
    and s.customer_id = any (finish_polar_reconcile_stale.customer_ids);
end;
$$;

comment on function public.finish_polar_reconcile_stale(bigint, uuid, text[]) is
  'Marks customers'' stale subscriptions of a reconcile run handled. service_role only.';

-- ----- public.apply_polar_states ------------------------------------------------------------
-- A batch of pulled changes, [{user_id?, change}], each applied by public.apply_polar_state
-- in its own subtransaction. Without user_id, the user is the one the change's external_id
-- names or, for a customer without one, the user whose stored link it is; a change that
-- names no user here is answered {outcome: 'skipped', reason: 'no user here'}. Returns one
-- answer per item, in order: apply_polar_state's, or {outcome: 'failed', reason} when it
-- raised. service_role only.
create function public.apply_polar_states(changes jsonb) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_item jsonb;
  v_user_id uuid;
  v_results jsonb := '[]';
begin
  if jsonb_typeof(changes) is distinct from 'array' then
    raise exception 'changes must be [{user_id, change}]' using errcode = 'invalid_parameter_value';
  end if;
  for v_item in select * from jsonb_array_elements(changes) loop
    begin
      v_user_id := coalesce((v_item ->> 'user_id')::uuid, case
        when v_item -> 'change' ->> 'external_id' is not null
          then polar.user_id_of(v_item -> 'change' ->> 'external_id')
        else (select u.user_id from public.user_subscriptions as u
          where u.polar_customer_id = v_item -> 'change' ->> 'customer_id')
      end);
      v_results := v_results || jsonb_build_array(case
        when v_user_id is null then '{"outcome": "skipped", "reason": "no user here"}'::jsonb
        else public.apply_polar_state(v_user_id, v_item -> 'change')
      end);
    exception when others then
      v_results := v_results || jsonb_build_array(
        jsonb_build_object('outcome', 'failed', 'reason', sqlerrm));
    end;
  end loop;
  return v_results;
end;
$$;

comment on function public.apply_polar_states(jsonb) is
  'Applies a batch of pulled changes, each by apply_polar_state. service_role only.';

-- ----- Access --------------------------------------------------------------------------------
revoke all on function
  public.begin_polar_reconcile(boolean, integer),
  public.save_polar_reconcile(bigint, uuid, integer, text, jsonb),
  public.release_polar_reconcile(bigint, uuid),
  public.stage_polar_reconcile_page(bigint, uuid, text, jsonb, integer, text, jsonb),
  public.apply_polar_reconcile_batch(bigint, uuid, integer),
  public.polar_reconcile_stale(bigint, integer),
  public.finish_polar_reconcile_stale(bigint, uuid, text[]),
  public.apply_polar_states(jsonb)
  from public, anon, authenticated;
grant execute on function
  public.begin_polar_reconcile(boolean, integer),
  public.save_polar_reconcile(bigint, uuid, integer, text, jsonb),
  public.release_polar_reconcile(bigint, uuid),
  public.stage_polar_reconcile_page(bigint, uuid, text, jsonb, integer, text, jsonb),
  public.apply_polar_reconcile_batch(bigint, uuid, integer),
  public.polar_reconcile_stale(bigint, integer),
  public.finish_polar_reconcile_stale(bigint, uuid, text[]),
  public.apply_polar_states(jsonb)
  to service_role;
