/// <reference lib="dom" />
/**
 * The example page's teams: the app's own teams and members (its tables, through its SQL
 * functions `create_team`, `add_team_member` and `team_roster`), and their billing through the
 * project's functions: `checkout` for 3 seats of the seat-based product, the team's seats
 * (`seats`: list, give one to a member, revoke), and the team's billing portal. The page never
 * decides who may manage seats: it asks, and shows the function's answer in words (a member is
 * told that only owners and billing managers may). The team's notes come from the app's
 * `team_notes`, which RLS shows only to a member whose claimed seat gives them `pro`.
 *
 * @module
 */
import type { SupabaseClient } from "@supabase/supabase-js";
import { describeError, element, whileBusy } from "./ui.ts";

/** How many seats "Buy" buys. */
const SEATS_TO_BUY = 3;

/** Statuses of a team subscription that give its seats access (the project's gate's). */
const ACTIVE = ["active", "trialing"];

/** Where the page comes back to from a team's checkout. */
const PURCHASE = "team";

/** A seat as the `seats` function answers it (docs/teams.md). */
interface Seat {
  id: string;
  status: "pending" | "claimed" | "revoked";
  user_id: string | null;
  email: string | null;
}

/** `GET seats?team_id=…`. */
interface SeatList {
  seats: Seat[];
  total_seats: number;
  available_seats: number;
}

/** A member of one of the app's teams, as `team_roster` answers. */
interface RosterEntry {
  user_id: string;
  email: string;
  role: "owner" | "member";
}

/** A product of the catalog, as far as the teams part reads it. */
interface CatalogProduct {
  id: string;
  name: string;
  recurring_interval: string | null;
  prices: {
    amount_type?: string;
    price_currency?: string;
    seat_tiers?: { tiers?: { price_per_seat?: number }[] };
  }[];
}

/** Options of {@linkcode createTeams}. */
export interface TeamsOptions {
  /** The signed-in client. */
  supabase: SupabaseClient;
  /** The seat-based product to sell; else the catalog's first seat-based product. */
  teamProductId?: string;
}

/** The teams part of the page. */
export interface Teams {
  /** Draws the caller's teams. */
  render(userId: string): Promise<void>;
  /**
   * Back from a team's checkout (`?purchase=team&team_id=…&checkout_id=…`): waits for the team's
   * subscription to arrive; `false` when the page did not come back from one.
   */
  confirmCheckout(userId: string): Promise<boolean>;
}

/**
 * Whether a product is sold by the seat (its price is Polar's `seat_based`): a team's product,
 * not one an individual subscribes to.
 *
 * @param product a catalog row
 * @returns true for a seat-based product
 * @example
 * ```ts
 * isSeatBased({ prices: [{ amount_type: "seat_based" }] }); // true
 * ```
 */
export function isSeatBased(product: { prices: { amount_type?: string }[] }): boolean {
  return product.prices.some((price) => price.amount_type === "seat_based");
}

/**
 * Wires the teams section (`#teams-section`) of the page.
 *
 * @param options the client and the team product
 * @returns what the page calls on sign-in and on coming back from checkout
 * @example
 * ```ts
 * const teams = createTeams({ supabase, teamProductId: config.team_product_id ?? undefined });
 * await teams.render(session.user.id);
 * ```
 */
export function createTeams(options: TeamsOptions): Teams {
  const { supabase } = options;
  const list = element<HTMLUListElement>("teams");
  const form = element<HTMLFormElement>("new-team");
  const formMessage = element("new-team-message");
  const notice = element("teams-notice");
  const template = element<HTMLTemplateElement>("team-template");
  let currentUser = "";

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = element<HTMLInputElement>("team-name");
    whileBusy(element<HTMLButtonElement>("create-team"), "Creating…", formMessage, async () => {
      const { error } = await supabase.rpc("create_team", { name: name.value });
      if (error) throw error;
      name.value = "";
      await render(currentUser);
    });
  });

  async function teamProduct(): Promise<CatalogProduct | undefined> {
    const { data } = await supabase.from("polar_products")
      .select("id, name, recurring_interval, prices").order("name");
    const products = (data ?? []) as CatalogProduct[];
    return products.find((product) => product.id === options.teamProductId) ??
      products.find(isSeatBased);
  }

  async function render(userId: string) {
    currentUser = userId;
    const { data, error } = await supabase.from("teams").select("id, name").order("created_at");
    if (error) formMessage.textContent = error.message;
    const teams = (data ?? []) as { id: string; name: string }[];
    const product = teams.length ? await teamProduct() : undefined;
    const cards = [];
    for (const team of teams) cards.push(await renderTeam(team, product));
    list.replaceChildren(...cards);
    element("teams-empty").hidden = teams.length > 0 || Boolean(error);
  }

  /** One team's card: members, billing, seats and notes. */
  async function renderTeam(team: { id: string; name: string }, product?: CatalogProduct) {
    const card = template.content.firstElementChild!.cloneNode(true) as HTMLLIElement;
    const part = <T extends HTMLElement>(name: string) => card.querySelector(`.${name}`) as T;
    const message = part("team-message");
    const rerender = async () => card.replaceWith(await renderTeam(team, product));
    card.dataset.team = team.id;
    part("team-name").textContent = team.name;

    const { data: roster, error } = await supabase.rpc("team_roster", { team_id: team.id });
    if (error) message.textContent = error.message;
    const members = (roster ?? []) as RosterEntry[];
    const owner = members.some((m) => m.user_id === currentUser && m.role === "owner");
    part("team-role").textContent = owner ? "Owner" : "Member";

    // Polar's side, read under RLS: rows exist once the team has a Polar customer.
    const [{ data: billing }, { data: subscriptions }] = await Promise.all([
      supabase.from("polar_teams").select("team_id").eq("team_id", team.id),
      supabase.from("polar_team_subscriptions").select("status, seats").eq("team_id", team.id),
    ]);
    const live = (subscriptions ?? []).some((s) => ACTIVE.includes(String(s.status)));

    // An owner lists the seats once there are some; anyone else asks too, and is told in words
    // who may manage them (the function decides, through polar_may_bill_team).
    const seats = live || !owner ? await listSeats(team.id) : null;
    const held = new Map<string, Seat>();
    for (const seat of seats?.list?.seats ?? []) {
      if (seat.status !== "revoked" && seat.user_id) held.set(seat.user_id, seat);
    }
    renderMembers(part("members"), members, owner && Boolean(seats?.list), held, (user) => {
      return (button) =>
        whileBusy(button, "Giving a seat…", message, async () => {
          const { error } = await supabase.functions.invoke("seats", {
            body: { team_id: team.id, user_id: user },
          });
          if (error) throw error;
          await rerender();
        });
    });

    const addForm = part<HTMLFormElement>("add-member");
    addForm.hidden = !owner;
    addForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const email = addForm.querySelector("input")!;
      whileBusy(addForm.querySelector("button")!, "Adding…", message, async () => {
        const { error } = await supabase.rpc("add_team_member", {
          team_id: team.id,
          email: email.value,
        });
        if (error) throw error;
        await rerender();
      });
    });

    renderBilling(part, team, { owner, live, billing: Boolean(billing?.length), product });
    if (!owner) part("seat-summary").textContent = await ownSeat(team.id);
    part<HTMLButtonElement>("buy-seats").addEventListener("click", (event) => {
      whileBusy(
        event.currentTarget as HTMLButtonElement,
        "Opening checkout…",
        message,
        async () => {
          if (!product) throw new Error("No team product on sale yet");
          const back = new URL(location.pathname, location.origin);
          back.search = new URLSearchParams({ purchase: PURCHASE, team_id: team.id }).toString();
          const { data, error } = await supabase.functions.invoke("checkout", {
            body: {
              product_id: product.id,
              team_id: team.id,
              seats: SEATS_TO_BUY,
              success_url: back.href,
              return_url: location.href,
            },
          });
          if (error) throw error;
          location.href = data.url;
        },
      );
    });
    part<HTMLButtonElement>("manage-team").addEventListener("click", (event) => {
      whileBusy(event.currentTarget as HTMLButtonElement, "Opening portal…", message, async () => {
        const { data, error } = await supabase.functions.invoke("portal", {
          body: { team_id: team.id, return_url: location.origin + location.pathname },
        });
        if (error) throw error;
        location.href = data.url;
      });
    });

    renderSeats(
      part,
      seats,
      members,
      (seat) => (button) =>
        whileBusy(button, "Revoking…", message, async () => {
          const { error } = await supabase.functions.invoke("seats", {
            method: "DELETE",
            body: { team_id: team.id, seat_id: seat },
          });
          if (error) throw error;
          await rerender();
        }),
    );
    await renderNotes(part, team.id);
    return card;
  }

  /** The team's seats from Polar, or the function's words when it refuses (403, 404). */
  async function listSeats(teamId: string): Promise<{ list?: SeatList; words?: string }> {
    const { data, error } = await supabase.functions.invoke(`seats?team_id=${teamId}`, {
      method: "GET",
    });
    if (error) return { words: await describeError(error) };
    return { list: data as SeatList };
  }

  /** A member's own seat, which RLS lets them read. */
  async function ownSeat(teamId: string): Promise<string> {
    const { data } = await supabase.from("polar_team_seats").select("status")
      .eq("team_id", teamId);
    const statuses = (data ?? []).map((seat) => String(seat.status));
    if (statuses.includes("claimed")) return "You hold a seat of this team.";
    if (statuses.includes("pending")) return "A seat waits for you: claim it from Polar's email.";
    return "You have no seat in this team yet: ask its owner for one.";
  }

  async function renderNotes(part: <T extends HTMLElement>(name: string) => T, teamId: string) {
    const { data, error } = await supabase.from("team_notes").select("title, body")
      .eq("team_id", teamId).order("id");
    const notes = (data ?? []) as { title: string; body: string }[];
    part("team-notes").replaceChildren(...notes.map((note) => {
      const item = document.createElement("li");
      const title = document.createElement("strong");
      title.textContent = note.title;
      item.append(title, ` ${note.body}`);
      return item;
    }));
    part("notes-empty").hidden = notes.length > 0 || Boolean(error);
    if (error) part("team-message").textContent = error.message;
  }

  async function confirmCheckout(userId: string): Promise<boolean> {
    const query = new URLSearchParams(location.search);
    const teamId = query.get("team_id");
    if (query.get("purchase") !== PURCHASE || !query.has("checkout_id") || !teamId) return false;
    notice.textContent = "Confirming the team's payment…";
    // Polar's webhooks store the team's subscription within moments of the payment.
    for (let attempt = 0; attempt < 20; attempt++) {
      const { data } = await supabase.from("polar_team_subscriptions").select("status")
        .eq("team_id", teamId);
      if ((data ?? []).some((s) => ACTIVE.includes(String(s.status)))) {
        const { data: team } = await supabase.from("teams").select("name").eq("id", teamId);
        notice.textContent = `${SEATS_TO_BUY} seats bought for ${team?.[0]?.name ?? "the team"}`;
        history.replaceState(null, "", location.pathname);
        await render(userId);
        return true;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    notice.textContent =
      "The team's payment is still being confirmed; its seats will show shortly.";
    return true;
  }

  return { render, confirmCheckout };
}

/** The team's members, each with "Give a seat" for an owner while seats can be given. */
function renderMembers(
  target: HTMLElement,
  members: RosterEntry[],
  canGive: boolean,
  held: Map<string, Seat>,
  give: (user: string) => (button: HTMLButtonElement) => void,
) {
  target.replaceChildren(...members.map((member) => {
    const item = document.createElement("li");
    item.dataset.user = member.user_id;
    const email = document.createElement("span");
    email.className = "email";
    email.textContent = member.email;
    const role = document.createElement("span");
    role.className = "note";
    role.textContent = member.role === "owner" ? " · owner" : "";
    item.append(email, role);
    const seat = held.get(member.user_id);
    if (seat) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = seat.status === "claimed" ? "Has a seat" : "Seat pending";
      item.append(badge);
    } else if (canGive) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary small give-seat";
      button.textContent = "Give a seat";
      button.addEventListener("click", () => give(member.user_id)(button));
      item.append(button);
    }
    return item;
  }));
}

/** The billing line: seats bought or not, and the buttons an owner may use. */
function renderBilling(
  part: <T extends HTMLElement>(name: string) => T,
  team: { id: string; name: string },
  state: { owner: boolean; live: boolean; billing: boolean; product?: CatalogProduct },
) {
  const buy = part<HTMLButtonElement>("buy-seats");
  buy.hidden = !state.owner || state.live || !state.product;
  buy.textContent = `Buy ${SEATS_TO_BUY} seats`;
  part<HTMLButtonElement>("manage-team").hidden = !state.owner || !state.billing;
  const price = part("team-price");
  price.hidden = buy.hidden;
  if (state.product) price.textContent = `${state.product.name}: ${seatPrice(state.product)}`;
  if (state.owner && !state.live) {
    part("seat-summary").textContent =
      `No seats yet. Buy seats for ${team.name}, then give them to its members.`;
  }
}

/** The seat list with "Revoke" per seat, or the words the function answered instead. */
function renderSeats(
  part: <T extends HTMLElement>(name: string) => T,
  seats: { list?: SeatList; words?: string } | null,
  members: RosterEntry[],
  revoke: (seat: string) => (button: HTMLButtonElement) => void,
) {
  const target = part("seats");
  const words = part("seats-words");
  words.textContent = seats?.words ?? "";
  words.hidden = !seats?.words;
  if (!seats?.list) {
    target.replaceChildren();
    target.hidden = true;
    return;
  }
  const { total_seats: total, available_seats: available } = seats.list;
  part("seat-summary").textContent = `${total - available} of ${total} seats taken`;
  const emails = new Map(members.map((m) => [m.user_id, m.email]));
  const live = seats.list.seats.filter((seat) => seat.status !== "revoked");
  target.hidden = live.length === 0;
  target.replaceChildren(...live.map((seat) => {
    const item = document.createElement("li");
    item.dataset.seat = seat.id;
    const who = document.createElement("span");
    who.className = "email";
    who.textContent = (seat.user_id && emails.get(seat.user_id)) ?? seat.email ?? "Unassigned";
    const status = document.createElement("span");
    status.className = "note";
    status.textContent = ` · ${seat.status}`;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary small revoke-seat";
    button.textContent = "Revoke";
    button.addEventListener("click", () => revoke(seat.id)(button));
    item.append(who, status, button);
    return item;
  }));
}

/** "$8.00 a seat a month", from the first tier of a seat-based price. */
function seatPrice(product: CatalogProduct): string {
  const price = product.prices.find((p) => p.amount_type === "seat_based");
  const cents = price?.seat_tiers?.tiers?.[0]?.price_per_seat;
  if (typeof cents !== "number") return "priced by the seat";
  const amount = new Intl.NumberFormat("en-US", {
    style: "currency",
    currency: (price?.price_currency ?? "usd").toUpperCase(),
  }).format(cents / 100);
  return `${amount} a seat a ${product.recurring_interval ?? "period"}`;
}
