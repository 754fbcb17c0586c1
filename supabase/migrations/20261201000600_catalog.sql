-- =====================================================================================
-- catalog (issue 20, point 2): plans and prices in Postgres, so a pricing page reads them
-- and a new plan needs no deploy.
--
--   * public.polar_products: one row per Polar product, the public price list. anon and
--     authenticated read the products that are public and not archived; only the service
--     role writes, through the functions below.
--   * polar.catalog_benefits: each benefit's key (metadata "key", what has_entitlement
--     matches), so a product lists the keys it grants and a benefit.updated that changes a
--     key reaches every product that grants it.
--   * public.apply_polar_catalog_webhook(...): product.created / product.updated and
--     benefit.created / benefit.updated / benefit.deleted, once per webhook-id.
--   * public.store_polar_products(products): the reconcile's pull (sync {"scope":"catalog"}).
--
-- Clocks. A product is stored when its version (modified_at, else created_at) is newer than
-- the stored one, a benefit likewise; an older delivery or page changes nothing.
-- Replaces no function.
-- =====================================================================================

-- ----- Tables -------------------------------------------------------------------------------
create table public.polar_products (
  id text primary key,
  name text not null,
  description text,
  is_recurring boolean not null,
  recurring_interval text,
  recurring_interval_count integer,
  prices jsonb not null default '[]',
  benefit_ids text[] not null default '{}',
  benefit_keys text[] not null default '{}',
  metadata jsonb not null default '{}',
  visibility text not null default 'public',
  is_archived boolean not null default false,
  polar_modified_at timestamptz not null,
  updated_at timestamptz not null default now()
);

comment on table public.polar_products is
  'The Polar products of the organization: the public price list (public, not archived) that anon and signed-in users read.';
comment on column public.polar_products.prices is
  'The product''s prices as Polar gives them (amount_type, price_amount, price_currency, …).';
comment on column public.polar_products.benefit_keys is
  'The metadata "key" of each benefit the product grants: what has_entitlement(key) matches.';
comment on column public.polar_products.polar_modified_at is
  'Polar''s version of the product stored here (modified_at, else created_at); older ones never overwrite it.';

create table polar.catalog_benefits (
  id text primary key,
  type text not null,
  description text,
  key text,
  metadata jsonb not null default '{}',
  is_deleted boolean not null default false,
  polar_modified_at timestamptz not null
);

comment on table polar.catalog_benefits is
  'The organization''s benefits, for the keys public.polar_products lists. Internal.';

alter table public.polar_products enable row level security;
alter table polar.catalog_benefits enable row level security;

revoke all on table public.polar_products from public, anon, authenticated, service_role;
grant select on table public.polar_products to anon, authenticated, service_role;
revoke all on table polar.catalog_benefits from public, anon, authenticated, service_role;

-- Policy: the price list is public: anyone reads the products that are on sale.
create policy "Anyone can read the products on sale"
  on public.polar_products for select to anon, authenticated
  using (not is_archived and visibility = 'public');
-- Policy: the service role reads every product, archived and private ones included.
create policy "The service role can read every product"
  on public.polar_products for select to service_role
  using (true);

-- ----- polar.refresh_product_keys ---------------------------------------------------------------
-- Sets benefit_keys of the products that grant any of `benefit_ids` (all products when
-- null) from the stored benefits. Internal.
create function polar.refresh_product_keys(benefit_ids text[]) returns void
language sql
volatile
security invoker
set search_path = ''
as $$
  update public.polar_products as p
  set benefit_keys = keys.benefit_keys,
      updated_at = now()
  from (
    select p2.id, coalesce(array_agg(distinct b.key order by b.key)
      filter (where b.key is not null), '{}') as benefit_keys
    from public.polar_products as p2
    left join polar.catalog_benefits as b
      on b.id = any(p2.benefit_ids) and not b.is_deleted
    where refresh_product_keys.benefit_ids is null
      or p2.benefit_ids && refresh_product_keys.benefit_ids
    group by p2.id
  ) as keys
  where p.id = keys.id
    and p.benefit_keys is distinct from keys.benefit_keys;
$$;

comment on function polar.refresh_product_keys(text[]) is
  'Recomputes the benefit keys of the products that grant these benefits. Internal.';
revoke all on function polar.refresh_product_keys(text[])
  from public, anon, authenticated, service_role;

-- ----- polar.store_benefit ----------------------------------------------------------------------
-- Stores one benefit ({id, type, description, metadata, version, deleted}) when it is newer
-- than the stored one. Returns whether it was stored. Internal.
create function polar.store_benefit(benefit jsonb) returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_rows integer;
begin
  if benefit ->> 'id' is null or benefit ->> 'type' is null or benefit ->> 'version' is null then
    raise exception 'benefit is missing required fields'
      using errcode = 'invalid_parameter_value';
  end if;
  insert into polar.catalog_benefits as b
    (id, type, description, key, metadata, is_deleted, polar_modified_at)
  values (
    benefit ->> 'id',
    benefit ->> 'type',
    benefit ->> 'description',
    benefit -> 'metadata' ->> 'key',
    coalesce(benefit -> 'metadata', '{}'),
    coalesce((benefit ->> 'deleted')::boolean, false),
    (benefit ->> 'version')::timestamptz
  )
  on conflict on constraint catalog_benefits_pkey do update
    set type = excluded.type,
        description = excluded.description,
        key = excluded.key,
        metadata = excluded.metadata,
        is_deleted = excluded.is_deleted,
        polar_modified_at = excluded.polar_modified_at
    where b.polar_modified_at < excluded.polar_modified_at;
  get diagnostics v_rows = row_count;
  return v_rows > 0;
end;
$$;

comment on function polar.store_benefit(jsonb) is
  'Stores a benefit when it is newer than the stored one. Internal.';
revoke all on function polar.store_benefit(jsonb) from public, anon, authenticated, service_role;

-- ----- polar.store_product ----------------------------------------------------------------------
-- Stores one product ({id, name, description, is_recurring, recurring_interval,
-- recurring_interval_count, prices, benefits, metadata, visibility, is_archived, version})
-- when it is newer than the stored one, and the benefits it embeds. Returns whether
-- anything was stored. Internal.
create function polar.store_product(product jsonb) returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_benefits jsonb := coalesce(product -> 'benefits', '[]');
  v_benefit jsonb;
  v_ids text[];
  v_rows integer;
  v_changed boolean := false;
begin
  if product ->> 'id' is null or product ->> 'name' is null or product ->> 'version' is null
    or jsonb_typeof(product -> 'is_recurring') is distinct from 'boolean'
    or jsonb_typeof(v_benefits) is distinct from 'array' then
    raise exception 'product is missing required fields'
      using errcode = 'invalid_parameter_value';
  end if;
  for v_benefit in select * from jsonb_array_elements(v_benefits) loop
    v_changed := polar.store_benefit(v_benefit) or v_changed;
  end loop;
  select coalesce(array_agg(item.value ->> 'id' order by item.ordinality), '{}') into v_ids
  from jsonb_array_elements(v_benefits) with ordinality as item (value, ordinality);

  insert into public.polar_products as p (
    id, name, description, is_recurring, recurring_interval, recurring_interval_count,
    prices, benefit_ids, metadata, visibility, is_archived, polar_modified_at
  )
  values (
    product ->> 'id',
    product ->> 'name',
    product ->> 'description',
    (product ->> 'is_recurring')::boolean,
    product ->> 'recurring_interval',
    (product ->> 'recurring_interval_count')::integer,
    coalesce(product -> 'prices', '[]'),
    v_ids,
    coalesce(product -> 'metadata', '{}'),
    coalesce(product ->> 'visibility', 'public'),
    coalesce((product ->> 'is_archived')::boolean, false),
    (product ->> 'version')::timestamptz
  )
  on conflict on constraint polar_products_pkey do update
    set name = excluded.name,
        description = excluded.description,
        is_recurring = excluded.is_recurring,
        recurring_interval = excluded.recurring_interval,
        recurring_interval_count = excluded.recurring_interval_count,
        prices = excluded.prices,
        benefit_ids = excluded.benefit_ids,
        metadata = excluded.metadata,
        visibility = excluded.visibility,
        is_archived = excluded.is_archived,
        polar_modified_at = excluded.polar_modified_at,
        updated_at = now()
    where p.polar_modified_at < excluded.polar_modified_at;
  get diagnostics v_rows = row_count;
  if v_rows > 0 or v_changed then
    perform polar.refresh_product_keys(v_ids);
    -- A product stored with no benefits gets its empty key list here.
    update public.polar_products as p
    set benefit_keys = '{}'
    where p.id = product ->> 'id' and cardinality(p.benefit_ids) = 0
      and cardinality(p.benefit_keys) > 0;
  end if;
  return v_rows > 0 or v_changed;
end;
$$;

comment on function polar.store_product(jsonb) is
  'Stores a product, and the benefits it embeds, when newer than the stored ones. Internal.';
revoke all on function polar.store_product(jsonb) from public, anon, authenticated, service_role;

-- ----- polar.claim_delivery: a webhook-id recorded once -------------------------------------
-- Records a delivery as 'stale' (provisional: the caller sets the final outcome) and answers
-- whether it is new; false for a webhook-id already recorded, whatever its body. The delivery
-- record of apply_polar_catalog_webhook and apply_polar_team_webhook. Internal.
create function polar.claim_delivery(
  webhook_id text,
  event_type text,
  event_timestamp timestamptz,
  customer_id text default null,
  subscription_id text default null
) returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_rows integer;
begin
  insert into polar.webhook_deliveries
    (webhook_id, event_type, event_timestamp, customer_id, subscription_id, outcome)
  values (claim_delivery.webhook_id, claim_delivery.event_type, claim_delivery.event_timestamp,
    claim_delivery.customer_id, claim_delivery.subscription_id, 'stale')
  on conflict on constraint webhook_deliveries_pkey do nothing;
  get diagnostics v_rows = row_count;
  return v_rows > 0;
end;
$$;

comment on function polar.claim_delivery(text, text, timestamptz, text, text) is
  'Records a webhook-id once (outcome stale until the caller sets it); false when already recorded. Internal.';
revoke all on function polar.claim_delivery(text, text, timestamptz, text, text)
  from public, anon, authenticated, service_role;

-- ----- public.apply_polar_catalog_webhook -------------------------------------------------------
-- One verified product.* or benefit.* event, once per webhook-id (the same delivery record
-- as apply_polar_webhook). `catalog` is {product: {...}} or {benefit: {...}}, in the forms
-- polar.store_product and polar.store_benefit take. Returns {outcome}: applied, stale or
-- duplicate. service_role only.
create function public.apply_polar_catalog_webhook(
  webhook_id text,
  event_type text,
  event_timestamp timestamptz,
  catalog jsonb
) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_changed boolean;
  v_benefit jsonb := catalog -> 'benefit';
begin
  if apply_polar_catalog_webhook.webhook_id is null
    or apply_polar_catalog_webhook.event_type is null
    or apply_polar_catalog_webhook.event_timestamp is null
    or (jsonb_typeof(catalog -> 'product') is distinct from 'object'
      and jsonb_typeof(v_benefit) is distinct from 'object') then
    raise exception 'webhook_id, event_type, event_timestamp and a product or benefit are required'
      using errcode = 'null_value_not_allowed';
  end if;
  if not polar.claim_delivery(apply_polar_catalog_webhook.webhook_id,
    apply_polar_catalog_webhook.event_type, apply_polar_catalog_webhook.event_timestamp) then
    return jsonb_build_object('outcome', 'duplicate');
  end if;
  -- One catalog change at a time, so two deliveries cannot interleave their key refreshes.
  perform pg_advisory_xact_lock(hashtext('polar.catalog'));
  if jsonb_typeof(catalog -> 'product') = 'object' then
    v_changed := polar.store_product(catalog -> 'product');
  else
    v_changed := polar.store_benefit(v_benefit);
    if v_changed then
      perform polar.refresh_product_keys(array[v_benefit ->> 'id']);
    end if;
  end if;
  if v_changed then
    update polar.webhook_deliveries as d
    set outcome = 'applied'
    where d.webhook_id = apply_polar_catalog_webhook.webhook_id;
  end if;
  return jsonb_build_object('outcome', case when v_changed then 'applied' else 'stale' end);
end;
$$;

comment on function public.apply_polar_catalog_webhook(text, text, timestamptz, jsonb) is
  'Applies one verified product.* or benefit.* event once per webhook-id, never letting an older version overwrite a newer one. Returns {outcome}. service_role only.';
revoke all on function public.apply_polar_catalog_webhook(text, text, timestamptz, jsonb)
  from public, anon, authenticated;
grant execute on function public.apply_polar_catalog_webhook(text, text, timestamptz, jsonb)
  to service_role;

-- ----- public.store_polar_products --------------------------------------------------------------
-- The reconcile's pull: a list of products (GET /v1/products/, every page, archived
-- included), each stored by the same rule as the webhooks. Returns {stored, unchanged}.
-- service_role only.
create function public.store_polar_products(products jsonb) returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  v_product jsonb;
  v_stored integer := 0;
  v_unchanged integer := 0;
begin
  if jsonb_typeof(products) is distinct from 'array' then
    raise exception 'products must be a list' using errcode = 'invalid_parameter_value';
  end if;
  perform pg_advisory_xact_lock(hashtext('polar.catalog'));
  for v_product in select * from jsonb_array_elements(products) loop
    if polar.store_product(v_product) then
      v_stored := v_stored + 1;
    else
      v_unchanged := v_unchanged + 1;
    end if;
  end loop;
  return jsonb_build_object('stored', v_stored, 'unchanged', v_unchanged);
end;
$$;

comment on function public.store_polar_products(jsonb) is
  'Stores pulled Polar products by the webhooks'' rules. Returns {stored, unchanged}. service_role only.';
revoke all on function public.store_polar_products(jsonb) from public, anon, authenticated;
grant execute on function public.store_polar_products(jsonb) to service_role;
