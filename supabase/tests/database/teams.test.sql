-- =====================================================================================
-- teams (issue 21): the extension point, the team tables per role, apply_polar_team_change
-- (order, redelivery, bad input) and the gates, each way of losing access on both sides.
-- Team A (Polar customer cus_team_a): Olive (owner), Max (member, claimed seat, "pro"
-- granted), Pia (member, seat pending), an invitee with no external_id. Team B (cus_team_b):
-- Quinn (member, claimed seat, "pro"). Ray has no team.
-- =====================================================================================
begin;
select plan(72);

insert into auth.users (id, email) values
  ('01000000-0000-4000-8000-000000000001', 'olive@example.com'),
  ('02000000-0000-4000-8000-000000000002', 'max@example.com'),
  ('03000000-0000-4000-8000-000000000003', 'pia@example.com'),
  ('04000000-0000-4000-8000-000000000004', 'quinn@example.com'),
  ('05000000-0000-4000-8000-000000000005', 'ray@example.com');

create function pg_temp.as_user(id uuid) returns void language sql as $$
  select set_config('role', 'authenticated', true),
    set_config('request.jwt.claims', jsonb_build_object('sub', id, 'role', 'authenticated')::text,
      true);
$$;
create function pg_temp.as_role(name text) returns void language sql as $$
  select set_config('role', name, true),
    set_config('request.jwt.claims', jsonb_build_object('role', name)::text, true);
$$;
create function pg_temp.as_owner() returns void language sql as $$
  select set_config('role', 'postgres', true), set_config('request.jwt.claims', '', true);
$$;

-- One change as the service role; answers the outcome.
create function pg_temp.apply(kind text, object jsonb) returns text language plpgsql as $$
declare
  outcome text;
begin
  perform pg_temp.as_role('service_role');
  outcome := public.apply_polar_team_change(jsonb_build_object('kind', kind, 'object', object))
    ->> 'outcome';
  perform pg_temp.as_owner();
  return outcome;
end;
$$;

-- Polar objects as the webhooks carry them.
create function pg_temp.team(id text, team uuid, at text, deleted text default null)
returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'type', 'team', 'external_id', team, 'created_at', at,
    'modified_at', at, 'deleted_at', deleted, 'email', 'billing@example.com');
$$;
create function pg_temp.member(id text, customer text, external text, role text, at text)
returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'customer_id', customer, 'external_id', external,
    'role', role, 'email', id || '@example.com', 'name', null, 'created_at', '2026-11-01T00:00:00Z',
    'modified_at', at);
$$;
create function pg_temp.seat(id text, customer text, member text, status text, at text,
  subscription text default 'sub_a') returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'customer_id', customer, 'member_id', member,
    'subscription_id', subscription, 'order_id', null, 'status', status, 'email', null,
    'created_at', '2026-11-01T00:00:00Z', 'modified_at', at, 'claimed_at', null,
    'revoked_at', null, 'seat_metadata', null);
$$;
create function pg_temp.subscription(id text, customer text, status text, at text)
returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'customer_id', customer, 'product_id', 'prod_team',
    'status', status, 'seats', 3, 'current_period_end', '2026-12-31T00:00:00Z',
    'cancel_at_period_end', false, 'ended_at', null, 'created_at', '2026-11-01T00:00:00Z',
    'modified_at', at);
$$;
create function pg_temp.grant_of(id text, customer text, member text, granted boolean, at text)
returns jsonb language sql as $$
  select jsonb_build_object('id', id, 'customer_id', customer, 'member_id', member,
    'benefit_id', 'ben_pro', 'subscription_id', 'sub_a', 'is_granted', granted,
    'is_revoked', not granted, 'benefit', jsonb_build_object('id', 'ben_pro',
      'metadata', jsonb_build_object('key', 'pro')),
    'created_at', '2026-11-01T00:00:00Z', 'modified_at', at);
$$;

-- Gates as a user.
create function pg_temp.has(id uuid, key text) returns boolean language plpgsql as $$
declare
  answer boolean;
begin
  perform pg_temp.as_user(id);
  answer := public.has_entitlement(key);
  perform pg_temp.as_owner();
  return answer;
end;
$$;
create function pg_temp.has_team(id uuid, team uuid, key text) returns boolean
language plpgsql as $$
declare
  answer boolean;
begin
  perform pg_temp.as_user(id);
  answer := public.has_team_entitlement(team, key);
  perform pg_temp.as_owner();
  return answer;
end;
$$;

-- ----- Fixtures through the entry point -------------------------------------------------------
select is(pg_temp.apply('team_customer',
  pg_temp.team('cus_team_a', 'aaaaaaaa-0000-4000-8000-00000000000a', '2026-11-01T00:00:00Z')),
  'applied', 'a team customer is stored by its external_id');
select is(pg_temp.apply('team_customer',
  pg_temp.team('cus_team_b', 'bbbbbbbb-0000-4000-8000-00000000000b', '2026-11-01T00:00:00Z')),
  'applied', 'a second team');
select pg_temp.apply('member', pg_temp.member('mem_olive', 'cus_team_a',
  '01000000-0000-4000-8000-000000000001', 'owner', '2026-11-01T00:00:00Z'));
select pg_temp.apply('member', pg_temp.member('mem_max', 'cus_team_a',
  '02000000-0000-4000-8000-000000000002', 'member', '2026-11-01T00:00:00Z'));
select pg_temp.apply('member', pg_temp.member('mem_pia', 'cus_team_a',
  '03000000-0000-4000-8000-000000000003', 'member', '2026-11-01T00:00:00Z'));
select pg_temp.apply('member', pg_temp.member('mem_invitee', 'cus_team_a', null, 'member',
  '2026-11-01T00:00:00Z'));
select pg_temp.apply('member', pg_temp.member('mem_quinn', 'cus_team_b',
  '04000000-0000-4000-8000-000000000004', 'member', '2026-11-01T00:00:00Z'));
select pg_temp.apply('subscription', pg_temp.subscription('sub_a', 'cus_team_a', 'active',
  '2026-11-01T00:00:00Z'));
select pg_temp.apply('subscription', pg_temp.subscription('sub_b', 'cus_team_b', 'active',
  '2026-11-01T00:00:00Z'));
select pg_temp.apply('seat', pg_temp.seat('seat_max', 'cus_team_a', 'mem_max', 'claimed',
  '2026-11-02T00:00:00Z'));
select pg_temp.apply('seat', pg_temp.seat('seat_pia', 'cus_team_a', 'mem_pia', 'pending',
  '2026-11-02T00:00:00Z'));
select pg_temp.apply('seat', pg_temp.seat('seat_invitee', 'cus_team_a', 'mem_invitee',
  'claimed', '2026-11-02T00:00:00Z'));
select pg_temp.apply('seat', pg_temp.seat('seat_quinn', 'cus_team_b', 'mem_quinn', 'claimed',
  '2026-11-02T00:00:00Z', 'sub_b'));
select pg_temp.apply('grant', pg_temp.grant_of('grant_max', 'cus_team_a', 'mem_max', true,
  '2026-11-02T00:00:00Z'));
select pg_temp.apply('grant', pg_temp.grant_of('grant_pia', 'cus_team_a', 'mem_pia', true,
  '2026-11-02T00:00:00Z'));
select pg_temp.apply('grant', pg_temp.grant_of('grant_invitee', 'cus_team_a', 'mem_invitee', true,
  '2026-11-02T00:00:00Z'));
select pg_temp.apply('grant', pg_temp.grant_of('grant_quinn', 'cus_team_b', 'mem_quinn', true,
  '2026-11-02T00:00:00Z') || '{"subscription_id": "sub_b"}');

-- ----- The extension point --------------------------------------------------------------------
select pg_temp.as_user('01000000-0000-4000-8000-000000000001');
select is(public.polar_may_bill_team('aaaaaaaa-0000-4000-8000-00000000000a'), false,
  'by default nobody may bill a team, not even its owner in Polar');
select pg_temp.as_role('anon');
select throws_ok($$select public.polar_may_bill_team('aaaaaaaa-0000-4000-8000-00000000000a')$$,
  '42501', null, 'anon may not ask');
select pg_temp.as_owner();

-- ----- The gates ------------------------------------------------------------------------------
select is(pg_temp.has('02000000-0000-4000-8000-000000000002', 'pro'), true,
  'Max holds pro through his claimed seat');
select is(pg_temp.has_team('02000000-0000-4000-8000-000000000002',
  'aaaaaaaa-0000-4000-8000-00000000000a', 'pro'), true, 'and in team A');
select is(pg_temp.has_team('02000000-0000-4000-8000-000000000002',
  'bbbbbbbb-0000-4000-8000-00000000000b', 'pro'), false, 'but not in team B');
select is(pg_temp.has_team('02000000-0000-4000-8000-000000000002', null, 'pro'), false,
  'a null team answers false');
select is(pg_temp.has('02000000-0000-4000-8000-000000000002', 'enterprise'), false,
  'a key he was not granted');
select is(pg_temp.has('03000000-0000-4000-8000-000000000003', 'pro'), false,
  'Pia''s seat is pending: her grant gives nothing yet');
select is(pg_temp.has('01000000-0000-4000-8000-000000000001', 'pro'), false,
  'Olive owns the team but holds no seat');
select is(pg_temp.has('04000000-0000-4000-8000-000000000004', 'pro'), true,
  'Quinn holds pro through team B');
select is(pg_temp.has_team('04000000-0000-4000-8000-000000000004',
  'aaaaaaaa-0000-4000-8000-00000000000a', 'pro'), false, 'a member of B asking about A');
select is(pg_temp.has('05000000-0000-4000-8000-000000000005', 'pro'), false, 'Ray has no team');
select pg_temp.as_role('anon');
select throws_ok($$select public.has_team_entitlement('aaaaaaaa-0000-4000-8000-00000000000a', 'pro')$$,
  '42501', null, 'anon may not call the team gate');
select pg_temp.as_owner();
select is((select count(*)::int from public.polar_team_members where user_id is null), 1,
  'the invitee without external_id is linked to nobody (never by email)');

-- ----- RLS per role ---------------------------------------------------------------------------
select pg_temp.as_user('02000000-0000-4000-8000-000000000002');
select is((select array_agg(polar_member_id) from public.polar_team_members), '{mem_max}',
  'a member sees only themselves among the members');
select is((select array_agg(polar_seat_id) from public.polar_team_seats), '{seat_max}',
  'a member sees only their own seat');
select is((select array_agg(polar_grant_id) from public.polar_team_member_grants), '{grant_max}',
  'a member sees only their own grants');
select is((select array_agg(team_id::text) from public.polar_teams),
  '{aaaaaaaa-0000-4000-8000-00000000000a}', 'a member sees their team');
select is((select array_agg(polar_subscription_id) from public.polar_team_subscriptions),
  '{sub_a}', 'and its subscription, not team B''s');
select is(public.polar_team_role('aaaaaaaa-0000-4000-8000-00000000000a'), 'member', 'his role');
select is(public.polar_team_role('bbbbbbbb-0000-4000-8000-00000000000b'), null,
  'no role in another team');
select throws_ok($$insert into public.polar_team_seats (polar_seat_id, team_id, status, version)
  values ('x', 'aaaaaaaa-0000-4000-8000-00000000000a', 'claimed', now())$$, '42501', null,
  'a member may not write a seat');
select throws_ok($$select public.apply_polar_team_change('{"kind":"seat","object":{}}')$$,
  '42501', null, 'nor call the entry point');

select pg_temp.as_user('01000000-0000-4000-8000-000000000001');
select is((select count(*)::int from public.polar_team_seats), 3,
  'the owner sees every seat of team A, none of B');
select is((select count(*)::int from public.polar_team_members), 4,
  'and every member of team A');
select is((select count(*)::int from public.polar_team_member_grants), 0,
  'but only their own grants (none)');

select pg_temp.as_user('05000000-0000-4000-8000-000000000005');
select is((select count(*)::int from public.polar_team_seats) +
  (select count(*)::int from public.polar_team_members) +
  (select count(*)::int from public.polar_teams) +
  (select count(*)::int from public.polar_team_member_grants) +
  (select count(*)::int from public.polar_team_subscriptions), 0,
  'a user of no team sees nothing of any team');

select pg_temp.as_role('anon');
select throws_ok($$select * from public.polar_team_seats$$, '42501', null, 'anon reads no seat');
select throws_ok($$select * from public.polar_team_members$$, '42501', null, 'nor a member');
select pg_temp.as_role('service_role');
select is((select count(*)::int from public.polar_team_seats), 4, 'the service role reads every seat');
select throws_ok($$delete from public.polar_team_seats$$, '42501', null,
  'and writes only through the entry point');
select pg_temp.as_owner();

-- ----- Order and redelivery -------------------------------------------------------------------
select is(pg_temp.apply('seat', pg_temp.seat('seat_max', 'cus_team_a', 'mem_max', 'claimed',
  '2026-11-02T00:00:00Z')), 'stale', 'a redelivered seat changes nothing');
select is(pg_temp.apply('seat', pg_temp.seat('seat_max', 'cus_team_a', 'mem_max', 'revoked',
  '2026-11-01T12:00:00Z')), 'stale', 'an older revocation does not undo a newer claim');
select is(pg_temp.has('02000000-0000-4000-8000-000000000002', 'pro'), true, 'Max keeps pro');
select is(pg_temp.apply('seat', pg_temp.seat('seat_nobody', 'cus_unknown', 'mem_x', 'claimed',
  '2026-11-02T00:00:00Z')), 'ignored', 'a seat of a customer that is no team of ours');
select is(pg_temp.apply('team_customer', jsonb_build_object('id', 'cus_ind', 'type',
  'individual', 'external_id', '05000000-0000-4000-8000-000000000005', 'created_at',
  '2026-11-01T00:00:00Z')), 'ignored', 'an individual customer is never a team');

-- ----- Each way of losing access, in the same transaction as the change -----------------------
-- A revoked seat: before Polar's benefit_grant.revoked.
select is(pg_temp.apply('seat', pg_temp.seat('seat_max', 'cus_team_a', 'mem_max', 'revoked',
  '2026-11-03T00:00:00Z')), 'applied', 'Max''s seat is revoked');
select is(pg_temp.has('02000000-0000-4000-8000-000000000002', 'pro'), false,
  'a revoked seat takes pro away while the grant still says granted');
-- Then Polar's job revokes the grant.
select pg_temp.apply('grant', pg_temp.grant_of('grant_max', 'cus_team_a', 'mem_max', false,
  '2026-11-03T00:01:00Z'));
-- Polar reuses the revoked seat for the next assignment: Pia's claim makes it hers.
select pg_temp.apply('seat', pg_temp.seat('seat_max', 'cus_team_a', 'mem_pia', 'claimed',
  '2026-11-04T00:00:00Z'));
select is(pg_temp.has('03000000-0000-4000-8000-000000000003', 'pro'), true,
  'the reused seat, claimed by Pia, gives her pro');
select is(pg_temp.has('02000000-0000-4000-8000-000000000002', 'pro'), false, 'and Max none');

-- A grant revoked.
select pg_temp.apply('grant', pg_temp.grant_of('grant_pia', 'cus_team_a', 'mem_pia', false,
  '2026-11-05T00:00:00Z'));
select is(pg_temp.has('03000000-0000-4000-8000-000000000003', 'pro'), false,
  'a revoked grant takes pro away');
select is(pg_temp.apply('grant', pg_temp.grant_of('grant_pia', 'cus_team_a', 'mem_pia', true,
  '2026-11-04T12:00:00Z')), 'stale', 'an older grant does not bring it back');
select pg_temp.apply('grant', pg_temp.grant_of('grant_pia', 'cus_team_a', 'mem_pia', true,
  '2026-11-06T00:00:00Z'));
select is(pg_temp.has('03000000-0000-4000-8000-000000000003', 'pro'), true, 'a newer one does');

-- A subscription that ends; trialing counts, past_due does not (as for a user's own).
select pg_temp.apply('subscription', pg_temp.subscription('sub_a', 'cus_team_a', 'trialing',
  '2026-11-07T00:00:00Z'));
select is(pg_temp.has('03000000-0000-4000-8000-000000000003', 'pro'), true, 'trialing counts');
select pg_temp.apply('subscription', pg_temp.subscription('sub_a', 'cus_team_a', 'past_due',
  '2026-11-08T00:00:00Z'));
select is(pg_temp.has('03000000-0000-4000-8000-000000000003', 'pro'), false,
  'past_due does not');
select pg_temp.apply('subscription', pg_temp.subscription('sub_a', 'cus_team_a', 'active',
  '2026-11-09T00:00:00Z'));
select is(pg_temp.has('03000000-0000-4000-8000-000000000003', 'pro'), true, 'active again');
select pg_temp.apply('subscription', pg_temp.subscription('sub_a', 'cus_team_a', 'canceled',
  '2026-11-10T00:00:00Z'));
select is(pg_temp.has('03000000-0000-4000-8000-000000000003', 'pro'), false,
  'a canceled team subscription takes pro away');
select pg_temp.apply('subscription', pg_temp.subscription('sub_a', 'cus_team_a', 'active',
  '2026-11-11T00:00:00Z'));

-- A removed member: final, whatever arrives later.
select is(pg_temp.has('04000000-0000-4000-8000-000000000004', 'pro'), true, 'Quinn, before');
select is(pg_temp.apply('member_deleted', pg_temp.member('mem_quinn', 'cus_team_b',
  '04000000-0000-4000-8000-000000000004', 'member', '2026-11-01T00:00:00Z')), 'applied',
  'member.deleted with the same version as the last update applies');
select is(pg_temp.has('04000000-0000-4000-8000-000000000004', 'pro'), false,
  'a removed member loses pro');
select is(pg_temp.apply('member', pg_temp.member('mem_quinn', 'cus_team_b',
  '04000000-0000-4000-8000-000000000004', 'member', '2026-11-20T00:00:00Z')), 'stale',
  'a later member.updated does not bring a removed member back');
select is(pg_temp.has('04000000-0000-4000-8000-000000000004', 'pro'), false, 'still none');

-- A deleted user: the member link ends with the account.
delete from auth.users where id = '03000000-0000-4000-8000-000000000003';
select is((select user_id from public.polar_team_members where polar_member_id = 'mem_pia'),
  null, 'deleting the user ends the member link');

-- A deleted team customer: every row of the team goes, later events find no team.
select pg_temp.apply('member', pg_temp.member('mem_max', 'cus_team_a',
  '02000000-0000-4000-8000-000000000002', 'member', '2026-11-12T00:00:00Z'));
select pg_temp.apply('seat', pg_temp.seat('seat_pia', 'cus_team_a', 'mem_max', 'claimed',
  '2026-11-12T00:00:00Z'));
select is(pg_temp.has('02000000-0000-4000-8000-000000000002', 'pro'), false,
  'Max claimed a seat but has no grant yet');
select pg_temp.apply('grant', pg_temp.grant_of('grant_max', 'cus_team_a', 'mem_max', true,
  '2026-11-12T00:00:00Z'));
select is(pg_temp.has('02000000-0000-4000-8000-000000000002', 'pro'), true, 'now he has');
select is(pg_temp.apply('team_customer', pg_temp.team('cus_team_a',
  'aaaaaaaa-0000-4000-8000-00000000000a', '2026-11-13T00:00:00Z', '2026-11-13T00:00:00Z')),
  'applied', 'customer.deleted of team A');
select is(pg_temp.has('02000000-0000-4000-8000-000000000002', 'pro'), false,
  'a deleted team customer takes every member''s access');
select is((select count(*)::int from public.polar_team_seats
  where team_id = 'aaaaaaaa-0000-4000-8000-00000000000a'), 0, 'and its seats');
select is(pg_temp.apply('seat', pg_temp.seat('seat_pia', 'cus_team_a', 'mem_max', 'claimed',
  '2026-11-14T00:00:00Z')), 'ignored', 'a late seat event for it changes nothing');

-- ----- Bad input ------------------------------------------------------------------------------
select pg_temp.as_role('service_role');
select throws_ok($$select public.apply_polar_team_change('{"object":{}}')$$, '22023',
  'change must have a kind and an object', 'no kind');
select throws_ok($$select public.apply_polar_team_change('{"kind":"seat","object":{"id":"s"}}')$$,
  '22023', 'the seat must have an id and created_at', 'no version');
select throws_ok($$select public.apply_polar_team_change(jsonb_build_object('kind', 'seat',
  'object', jsonb_build_object('id', 's', 'customer_id', 'cus_team_b', 'created_at', '2026-11-01',
  'status', 'taken')))$$, '22023', 'seat status must be pending, claimed or revoked, not taken',
  'an unknown seat status');
select throws_ok($$select public.apply_polar_team_change(jsonb_build_object('kind', 'member',
  'object', jsonb_build_object('id', 'm', 'customer_id', 'cus_team_b', 'created_at', '2026-11-01',
  'role', 'admin')))$$, '22023',
  'member role must be owner, billing_manager or member, not admin', 'an unknown role');
select throws_ok($$select public.apply_polar_team_change(jsonb_build_object('kind', 'order',
  'object', jsonb_build_object('id', 'o', 'customer_id', 'cus_team_b', 'created_at', '2026-11-01')))$$,
  '22023', 'unknown team change kind order', 'an unknown kind');
select pg_temp.as_owner();

-- ----- The webhook entry point: once per webhook-id --------------------------------------------
select pg_temp.as_role('service_role');
select is(public.apply_polar_team_webhook('wh_1', 'member.created', '2026-11-20T00:00:00Z',
  jsonb_build_object('kind', 'member', 'object', pg_temp.member('mem_new', 'cus_team_b',
    '05000000-0000-4000-8000-000000000005', 'billing_manager', '2026-11-20T00:00:00Z')))
  ->> 'outcome', 'applied', 'a team event is applied');
select is(public.apply_polar_team_webhook('wh_1', 'member.created', '2026-11-20T00:00:00Z',
  jsonb_build_object('kind', 'member', 'object', pg_temp.member('mem_new', 'cus_team_b',
    '05000000-0000-4000-8000-000000000005', 'owner', '2026-11-21T00:00:00Z')))
  ->> 'outcome', 'duplicate', 'a webhook-id already recorded changes nothing, whatever its body');
select pg_temp.as_owner();
select is((select role from public.polar_team_members where polar_member_id = 'mem_new'),
  'billing_manager', 'the first delivery of the id won');
select is((select outcome || '/' || coalesce(reason, '') from polar.webhook_deliveries
  where webhook_id = 'wh_1'), 'applied/', 'the delivery is recorded with its outcome');
select pg_temp.as_role('service_role');
select is(public.apply_polar_team_webhook('wh_2', 'customer_seat.claimed', '2026-11-20T00:00:00Z',
  jsonb_build_object('kind', 'seat', 'object', pg_temp.seat('seat_z', 'cus_nobody', 'mem_z',
    'claimed', '2026-11-20T00:00:00Z'))) ->> 'reason', 'unknown team customer',
  'a seat of no team we know is recorded as ignored, with the reason');
select pg_temp.as_user('05000000-0000-4000-8000-000000000005');
select throws_ok($$select public.apply_polar_team_webhook('wh_3', 'member.created', now(), '{}')$$,
  '42501', null, 'a signed-in user may not call it');
select pg_temp.as_owner();

select * from finish();
rollback;
