/// <reference lib="dom" />
/**
 * The example page's script: sign in with supabase-js, show the subscription row (read under
 * RLS), list the plans and prices from the catalog (`public.polar_products`, no product id in the
 * page), start a checkout and open the customer portal through the project's functions, and list
 * the members-only notes, which the example's own table gates with `has_entitlement`. Coming back
 * from checkout (`?checkout_id=`), it asks the `sync` function for the new state at once rather
 * than waiting for Polar's webhooks. "Summarise" spends credits through the example's own edge
 * function (`consume_usage` in the database); at zero it offers the credit pack. The Teams
 * section (`teams.ts`) sells seats to the app's teams and gives them to their members.
 *
 * @module
 */
import { createClient, FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";
import { createTeams, isSeatBased } from "./teams.ts";
import { describeError, element, whileBusy as busyIn } from "./ui.ts";

interface PageConfig {
  api_url: string;
  anon_key: string;
  entitlement_key: string;
  /** The Polar meter "Summarise" spends, and the one-time product that adds to it. */
  meter: string;
  credit_product_id: string;
  /** The seat-based product a team buys seats of; else the catalog's seat-based product. */
  team_product_id?: string | null;
}

/** A row of the public price list, `public.polar_products`. */
interface Product {
  id: string;
  name: string;
  description: string | null;
  is_recurring: boolean;
  recurring_interval: string | null;
  prices: { amount_type?: string; price_amount?: number; price_currency?: string }[];
}

const signInForm = element<HTMLFormElement>("signin");
const account = element("account");
const message = element("message");
const statusText = element("status");
const notice = element("notice");
const balanceText = element("balance");
const summary = element("summary");
const outOfCredits = element("out-of-credits");

/** Where the credit balance before a credit checkout is kept, to see the top-up arrive. */
const CREDITS_BEFORE = "credits-before-checkout";

/** Statuses of a subscription that still runs (Polar's names). */
const LIVE_STATUSES = ["active", "trialing", "past_due"];

const config: PageConfig = await (await fetch("/config.json")).json();
const supabase: SupabaseClient = createClient(config.api_url, config.anon_key);
const teams = createTeams({ supabase, teamProductId: config.team_product_id ?? undefined });

/** Disables the button while `work` runs; errors go to the page's message. */
function whileBusy(button: HTMLButtonElement, label: string, work: () => Promise<void>) {
  return busyIn(button, label, message, work);
}

/** The status line; the date sits in a span that never wraps, so it stays whole. */
function renderStatus(row: Record<string, unknown> | null) {
  if (!row?.status) {
    statusText.textContent = "No subscription";
    return;
  }
  const status = String(row.status).replace("_", " ");
  const label = status[0].toUpperCase() + status.slice(1);
  const live = LIVE_STATUSES.includes(String(row.status));
  if (live && row.cancel_at_period_end && row.current_period_end) {
    const date = document.createElement("span");
    date.className = "date";
    date.textContent = String(row.current_period_end).slice(0, 10);
    statusText.replaceChildren(`${label}, cancels at period end (`, date, ")");
    return;
  }
  statusText.textContent = label;
}

/** A price as people read it: "$10.00 a month", "$5.00 once". */
function describePrice(product: Product): string {
  const price = product.prices.find((p) => p.amount_type === "fixed") ?? product.prices[0];
  const amount = typeof price?.price_amount === "number"
    ? new Intl.NumberFormat("en-US", {
      style: "currency",
      currency: (price.price_currency ?? "usd").toUpperCase(),
    }).format(price.price_amount / 100)
    : "Free";
  if (!product.is_recurring) return `${amount} once`;
  return `${amount} a ${product.recurring_interval ?? "period"}`;
}

/**
 * Starts a checkout of one product and goes to Polar's page; back here with `purchase` in the
 * query (credits, or a plan), to confirm what was bought.
 */
function buy(button: HTMLButtonElement, productId: string) {
  whileBusy(button, "Opening checkout…", async () => {
    const credits = productId === config.credit_product_id;
    if (credits) sessionStorage.setItem(CREDITS_BEFORE, String((await readBalance()) ?? 0));
    const back = `${location.origin}${location.pathname}?purchase=${credits ? "credits" : "plan"}`;
    const { data, error } = await supabase.functions.invoke("checkout", {
      body: { product_id: productId, success_url: back, return_url: location.href },
    });
    if (error) throw error;
    location.href = data.url;
  });
}

/**
 * The plans and packs on sale, from the catalog (anyone may read it). The plan the user holds
 * says so instead of offering a button; any other plan still offers "Subscribe", and the
 * checkout function answers a second subscription with words the page shows.
 */
async function renderPricing(currentProductId: string | null) {
  const { data, error } = await supabase
    .from("polar_products")
    .select("id, name, description, is_recurring, recurring_interval, prices")
    .order("is_recurring", { ascending: false })
    .order("name");
  const plans = element("plans");
  // A product sold by the seat is a team's: the Teams section sells it.
  const forOne = ((data ?? []) as Product[]).filter((product) => !isSeatBased(product));
  plans.replaceChildren(...forOne.map((product) => {
    const item = document.createElement("li");
    item.dataset.product = product.id;
    const name = document.createElement("strong");
    name.textContent = product.name;
    const price = document.createElement("span");
    price.className = "price";
    price.textContent = describePrice(product);
    item.append(name, " ", price);
    if (product.description) {
      const description = document.createElement("p");
      description.className = "note";
      description.textContent = product.description;
      item.append(description);
    }
    if (product.id === currentProductId) {
      const current = document.createElement("span");
      current.className = "current";
      current.textContent = "Your plan";
      item.append(current);
    } else {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = product.is_recurring ? "Subscribe" : "Buy";
      button.addEventListener("click", () => buy(button, product.id));
      item.append(button);
    }
    return item;
  }));
  element("pricing-empty").hidden = forOne.length > 0 || Boolean(error);
  if (error) message.textContent = error.message;
}

/** The members-only notes: RLS returns them only to a user who holds the entitlement. */
async function renderMembers() {
  // The user's own notes (the welcome note) first, then everyone's.
  const { data, error } = await supabase.from("member_notes").select("title, body")
    .order("user_id", { ascending: true, nullsFirst: false })
    .order("id");
  const notes = element("notes");
  notes.replaceChildren(...(data ?? []).map((note) => {
    const item = document.createElement("li");
    const title = document.createElement("strong");
    title.textContent = note.title;
    item.append(title, ` ${note.body}`);
    return item;
  }));
  element("entitlement-key").textContent = config.entitlement_key;
  element("members-empty").hidden = Boolean(data?.length) || Boolean(error);
  if (error) message.textContent = error.message;
}

/** The caller's credits now: the database's balance, exact and immediate. */
async function readBalance(): Promise<number | null> {
  const { data, error } = await supabase.rpc("usage_balance", { meter: config.meter });
  return error ? null : Number(data);
}

async function renderCredits() {
  const balance = await readBalance();
  balanceText.textContent = balance === null ? "Unavailable" : String(balance);
  return balance;
}

async function render() {
  const { data: { session } } = await supabase.auth.getSession();
  signInForm.hidden = Boolean(session);
  account.hidden = !session;
  if (!session) return;
  element("who").textContent = session.user.email ?? session.user.id;
  const { data, error } = await supabase
    .from("user_subscriptions")
    .select("status, product_id, cancel_at_period_end, current_period_end, polar_customer_id")
    .maybeSingle();
  if (error) statusText.textContent = "Unavailable";
  else renderStatus(data);
  const live = LIVE_STATUSES.includes(String(data?.status));
  // The portal needs a Polar customer: without one there is nothing to manage yet.
  const manage = element<HTMLButtonElement>("manage");
  manage.hidden = !data?.polar_customer_id;
  manage.textContent = live ? "Change plan or cancel" : "Manage billing";
  element("billing-none").hidden = Boolean(data?.polar_customer_id) || Boolean(error);
  if (error) message.textContent = error.message;
  await renderPricing(live ? String(data?.product_id) : null);
  await renderMembers();
  await teams.render(session.user.id);
  await renderCredits();
}

/** Seconds the sync function waits between two pulls for one user (see its README section). */
const SYNC_INTERVAL_MS = 5_500;

/**
 * Back from checkout: asks `sync` to pull the new state from Polar now. Polar may still be
 * confirming the payment (and, for credits, counting them) for a few seconds, so it asks up to
 * three times. A subscription shows in the state; credits show as a balance above the one before.
 */
async function confirmCheckout() {
  const { data: { session } } = await supabase.auth.getSession();
  const query = new URLSearchParams(location.search);
  if (!session || !query.has("checkout_id")) return;
  if (await teams.confirmCheckout(session.user.id)) return;
  const credits = query.get("purchase") === "credits";
  const before = Number(sessionStorage.getItem(CREDITS_BEFORE) ?? 0);
  notice.textContent = "Confirming your payment…";
  for (let attempt = 0; attempt < 3; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, SYNC_INTERVAL_MS));
    const { data, error } = await supabase.functions.invoke("sync");
    if (error) {
      notice.textContent = "";
      message.textContent = await describeError(error);
      return;
    }
    const arrived = credits
      ? ((await readBalance()) ?? 0) > before
      : data.state.has_active_subscription;
    if (arrived) {
      notice.textContent = credits ? "Credits added" : "Payment received";
      sessionStorage.removeItem(CREDITS_BEFORE);
      history.replaceState(null, "", location.pathname);
      await render();
      return;
    }
  }
  notice.textContent = "Your payment is still being confirmed; this page will show it shortly.";
}

signInForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const button = element<HTMLButtonElement>("signin-button");
  whileBusy(button, "Signing in…", async () => {
    const form = new FormData(signInForm);
    const { error } = await supabase.auth.signInWithPassword({
      email: String(form.get("email")),
      password: String(form.get("password")),
    });
    if (error) throw error;
    await render();
    await confirmCheckout();
  });
});

element<HTMLButtonElement>("summarise").addEventListener("click", (event) => {
  whileBusy(event.currentTarget as HTMLButtonElement, "Summarising…", async () => {
    outOfCredits.hidden = true;
    summary.textContent = "";
    // One id per click: a retry of this request is not charged again.
    const { data, error } = await supabase.functions.invoke("summarise", {
      body: { text: element<HTMLTextAreaElement>("text").value, request_id: crypto.randomUUID() },
    });
    if (error instanceof FunctionsHttpError && error.context.status === 402) {
      const body = await error.context.json();
      element("out-of-credits-words").textContent = body.error;
      balanceText.textContent = String(body.balance);
      outOfCredits.hidden = false;
      return;
    }
    if (error) throw error;
    summary.textContent = data.summary;
    balanceText.textContent = String(data.balance);
  });
});

element<HTMLButtonElement>("buy-credits").addEventListener("click", (event) => {
  buy(event.currentTarget as HTMLButtonElement, config.credit_product_id);
});

element<HTMLButtonElement>("manage").addEventListener("click", (event) => {
  whileBusy(event.currentTarget as HTMLButtonElement, "Opening portal…", async () => {
    const { data, error } = await supabase.functions.invoke("portal", {
      body: { return_url: location.origin + location.pathname },
    });
    if (error) throw error;
    location.href = data.url;
  });
});

element<HTMLButtonElement>("signout").addEventListener("click", async () => {
  await supabase.auth.signOut();
  message.textContent = "";
  await render();
});

await render();
await confirmCheckout();
