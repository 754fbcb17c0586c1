/// <reference lib="dom" />
/**
 * The example page in a real browser (Debian's Chromium, driven by playwright-core) against the
 * local stack: the whole story from sign-in to cancellation, the pricing from the catalog, a
 * second Subscribe answered with the checkout function's 409 words, and the members-only notes
 * that the example's own table gates with `has_entitlement` (empty before paying, filled after
 * with a personal welcome note its trigger on the billing changes wrote, kept while a
 * cancellation waits for the period end, empty once the subscription ends). Then teams: an
 * owner creates a team, adds the second user, buys 3 seats through the checkout page and gives
 * one; the second user reads the team's notes (gated by `has_team_entitlement`) and is told in
 * words that seats are not theirs to manage; with every seat taken a fourth is refused with the
 * 409 words; the owner revokes the seat and the notes are gone.
 * Screenshots of each step go to `examples/web/screenshots/` (git-ignored).
 */
import assert from "node:assert/strict";
import { type Browser, chromium, type Page } from "playwright-core";
import { startStack } from "../../local/stack.ts";
import { ALREADY_SUBSCRIBED_MESSAGE } from "../../supabase/functions/_polar/subscription_rule.ts";
import {
  MAY_NOT_MANAGE_SEATS_MESSAGE,
  seatsTakenMessage,
} from "../../supabase/functions/seats/handler.ts";
import { createPasswordUser } from "../../local/auth.ts";

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const SCREENSHOTS = new URL("screenshots/", import.meta.url);

async function launch(): Promise<Browser> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`,
    );
  }
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** The button of a plan on the pricing list, by the plan's name. */
function planButton(page: Page, name: string) {
  return page.locator(`#plans li:has(strong:text-is("${name}")) button`);
}

async function snap(page: Page, name: string) {
  await Deno.mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: new URL(`${name}.png`, SCREENSHOTS).pathname, fullPage: true });
}

Deno.test("example page: sign in, subscribe, pay, members-only notes, manage billing, cancel, end", async (test) => {
  await using stack = await startStack({ apiPort: 0, polarPort: 0, sitePort: 0 });
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 720, height: 640 } });
    const status = page.locator("#status");
    const notes = page.locator("#notes li");
    const user = stack.info.users[0];

    await test.step("sign in and see no subscription", async () => {
      await page.goto(stack.info.site_url);
      await page.fill("#email", user.email);
      await page.fill("#password", user.password);
      await page.click("#signin-button");
      await page.waitForSelector("#account:not([hidden])");
      assert.equal(await page.textContent("#who"), user.email);
      await page.waitForFunction(() =>
        document.querySelector("#status")?.textContent !== "Loading…"
      );
      assert.equal(await status.textContent(), "No subscription");
      await page.waitForSelector("#members-empty:not([hidden])");
      assert.equal(await notes.count(), 0, "no members-only note before subscribing");
      assert.match(await page.textContent("#members-empty") ?? "", /has_entitlement\('pro'\)/);
      await snap(page, "01-signed-in");
    });

    await test.step("the pricing comes from the catalog: two plans and the credit pack", async () => {
      await page.waitForFunction(() => document.querySelectorAll("#plans li").length === 3);
      const plans = await page.$$eval("#plans li", (items) =>
        items.map((item) => [
          item.querySelector("strong")?.textContent,
          item.querySelector(".price")?.textContent,
          item.querySelector("button")?.textContent,
        ]));
      assert.deepEqual(plans, [
        ["Pro", "$10.00 a month", "Subscribe"],
        ["Pro yearly", "$100.00 a year", "Subscribe"],
        ["Credit pack", "$5.00 once", "Buy"],
      ]);
      assert.equal(await page.isVisible("#pricing-empty"), false);
    });

    await test.step("no Manage billing without a billing account, a plain explanation instead", async () => {
      assert.equal(await page.isVisible("#manage"), false);
      assert.match(await page.textContent("#billing-none") ?? "", /No billing account yet/);
      assert.equal(await page.isVisible("#billing-none"), true);
      assert.equal(await page.textContent("#message"), "", "no error shown");
      const favicon = await fetch(`${stack.info.site_url}/favicon.ico`);
      assert.equal(favicon.status, 200, "the favicon request is answered");
      await favicon.body?.cancel();
      await snap(page, "02-no-billing-account");
    });

    await test.step("subscribe opens the checkout page", async () => {
      await planButton(page, "Pro").click();
      await page.waitForURL(`${stack.info.polar_api_url}/checkout/**`);
      assert.match(await page.textContent("body") ?? "", new RegExp(user.email));
      await snap(page, "03-checkout");
    });

    await test.step("pay and come back to an active subscription", async () => {
      await page.click("text=Pay");
      await page.waitForURL(`${stack.info.site_url}/**`);
      assert.match(page.url(), /checkout_id=[0-9a-f-]{36}/);
      await page.waitForFunction(() => document.querySelector("#status")?.textContent === "Active");
      await page.waitForSelector('#plans li:has(strong:text-is("Pro")) .current');
      assert.equal(await planButton(page, "Pro").count(), 0, "the plan held says so");
      assert.equal(await page.textContent("#manage"), "Change plan or cancel");
      assert.equal(await page.isVisible("#billing-none"), false);
      await page.waitForFunction(() => document.querySelectorAll("#notes li").length === 3);
      assert.equal(await page.isVisible("#members-empty"), false);
      assert.match(
        await notes.first().textContent() ?? "",
        /Welcome to Pro Thanks for subscribing on \d{1,2}\u00a0[A-Z][a-z]+\u00a0\d{4}\./,
        "the example's trigger on polar_billing_changes wrote the welcome note",
      );
      await snap(page, "04-active");
    });

    await test.step("a second Subscribe shows the checkout function's 409 words", async () => {
      await planButton(page, "Pro yearly").click();
      await page.waitForFunction(() => document.querySelector("#message")?.textContent !== "");
      assert.equal(await page.textContent("#message"), ALREADY_SUBSCRIBED_MESSAGE);
      assert.ok(page.url().startsWith(stack.info.site_url), "no checkout page opened");
      await snap(page, "04b-second-subscription-refused");
    });

    await test.step("change plan or cancel lands on the portal page", async () => {
      await page.click("#manage");
      await page.waitForURL(`${stack.info.polar_api_url}/portal/**`);
      assert.equal(await page.textContent(".status"), "active");
      await snap(page, "05-portal");
    });

    await test.step("cancel at period end in the portal", async () => {
      await page.click("text=Cancel subscription");
      await page.waitForSelector("text=cancels at period end");
      await snap(page, "06-canceled-in-portal");
    });

    await test.step("return to the app and see that it cancels at period end", async () => {
      await page.click("text=Back to the app");
      await page.waitForURL(`${stack.info.site_url}/**`);
      await page.waitForFunction(() =>
        document.querySelector("#status")?.textContent?.startsWith("Active, cancels at period end")
      );
      const date = await page.$eval("#status .date", (span) => ({
        text: span.textContent,
        whiteSpace: getComputedStyle(span).whiteSpace,
      }));
      assert.match(date.text ?? "", /^\d{4}-\d{2}-\d{2}$/);
      assert.equal(date.whiteSpace, "nowrap", "the date is never split across lines");
      assert.equal(await notes.count(), 3, "the benefit lasts until the period ends");
      await snap(page, "07-cancels-at-period-end");
    });

    await test.step("end the subscription now in the portal: the notes are gone", async () => {
      await page.click("#manage");
      await page.waitForURL(`${stack.info.polar_api_url}/portal/**`);
      await page.click("text=End now");
      await page.waitForSelector(".status >> text=canceled");
      await snap(page, "08-ended-in-portal");
      await page.click("text=Back to the app");
      await page.waitForURL(`${stack.info.site_url}/**`);
      await page.waitForFunction(() =>
        document.querySelector("#status")?.textContent === "Canceled"
      );
      await page.waitForSelector("#members-empty:not([hidden])");
      assert.equal(await notes.count(), 0, "no members-only note once it ended");
      assert.equal(await planButton(page, "Pro").isVisible(), true, "subscribing is offered again");
      assert.equal(await page.textContent("#manage"), "Manage billing", "invoices stay reachable");
      await snap(page, "09-ended");
    });

    await test.step("buttons show that they are working while a request is out", async () => {
      const busy = page.evaluate(() =>
        new Promise<string>((resolve) => {
          const button = document.querySelector<HTMLButtonElement>("#manage")!;
          new MutationObserver(() => {
            if (button.disabled) {
              resolve(`${button.textContent}|${button.getAttribute("aria-busy")}`);
            }
          }).observe(button, { attributes: true, childList: true });
        })
      );
      await page.click("#manage");
      assert.equal(await busy, "Opening portal…|true");
    });
  } finally {
    await browser.close();
  }
});

Deno.test("example page: with Polar's webhooks off, coming back from checkout syncs and shows the payment", async (test) => {
  await using stack = await startStack({
    apiPort: 0,
    polarPort: 0,
    sitePort: 0,
    polarWebhooks: "off",
  });
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 720, height: 640 } });
    const user = stack.info.users[1];
    await test.step("sign in, subscribe and pay while no webhook is delivered", async () => {
      await page.goto(stack.info.site_url);
      await page.fill("#email", user.email);
      await page.fill("#password", user.password);
      await page.click("#signin-button");
      await page.waitForFunction(() =>
        document.querySelector("#status")?.textContent === "No subscription"
      );
      await planButton(page, "Pro").click();
      await page.waitForURL(`${stack.info.polar_api_url}/checkout/**`);
      await page.click("text=Pay");
      await page.waitForURL(`${stack.info.site_url}/**`);
    });
    await test.step("the page asks sync and shows Payment received with the new state", async () => {
      await page.waitForFunction(() =>
        document.querySelector("#notice")?.textContent === "Payment received"
      );
      await page.waitForFunction(() => document.querySelector("#status")?.textContent === "Active");
      await page.waitForFunction(() => document.querySelectorAll("#notes li").length === 3);
      assert.ok(!page.url().includes("checkout_id"), "the checkout id is dropped from the URL");
      assert.ok(stack.polar!.deliveries.length > 0, "Polar had events to send");
      assert.ok(stack.polar!.deliveries.every((d) => !d.sent), "none was delivered");
      await snap(page, "10-payment-received-without-webhooks");
    });
  } finally {
    await browser.close();
  }
});

Deno.test("example page: credits: refused at zero, subscribe, spend to zero, buy credits, spend again", async (test) => {
  // The usage flush runs every second, so Polar counts what is spent while the page spends more:
  // the balance must stay exact across Polar's recompute delay.
  await using stack = await startStack({
    apiPort: 0,
    polarPort: 0,
    sitePort: 0,
    usageFlushIntervalMs: 1_000,
  });
  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 720, height: 900 } });
    const user = stack.info.users[0];
    const balance = () => page.textContent("#balance");
    const summariseOnce = async (expectedBalance: number) => {
      await page.click("#summarise");
      await page.waitForFunction(
        (expected) => document.querySelector("#balance")?.textContent === expected,
        String(expectedBalance),
      );
      assert.match(
        await page.textContent("#summary") ?? "",
        /^Polar meters count .* \(16 words\)$/,
      );
    };

    await test.step("signed in without a plan: no credits, Summarise is refused with words", async () => {
      await page.goto(stack.info.site_url);
      await page.fill("#email", user.email);
      await page.fill("#password", user.password);
      await page.click("#signin-button");
      await page.waitForFunction(() => document.querySelector("#balance")?.textContent === "0");
      await page.click("#summarise");
      await page.waitForSelector("#out-of-credits:not([hidden])");
      assert.equal(
        await page.textContent("#out-of-credits-words"),
        "You are out of credits: a summary costs 10 and you have 0. Buy credits to go on.",
      );
      assert.equal(await page.textContent("#summary"), "");
      await snap(page, "11-credits-refused-at-zero");
    });

    await test.step("subscribe: the plan's 100 credits arrive once Polar has counted them", async () => {
      await planButton(page, "Pro").click();
      await page.waitForURL(`${stack.info.polar_api_url}/checkout/**`);
      await page.click("text=Pay");
      await page.waitForURL(`${stack.info.site_url}/**`);
      await page.waitForFunction(() => document.querySelector("#status")?.textContent === "Active");
      // The stand-in credits the meter after its recompute delay, as Polar does; a reload reads
      // the database again.
      for (let tries = 0; (await balance()) !== "100" && tries < 20; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        await page.reload();
        await page.waitForFunction(() => document.querySelector("#balance")?.textContent !== "…");
      }
      assert.equal(await balance(), String(stack.info.credit_units));
    });

    await test.step("ten summaries spend the 100 credits to exactly 0, the eleventh is refused", async () => {
      for (let left = 90; left >= 0; left -= 10) await summariseOnce(left);
      await snap(page, "12-credits-spent-to-zero");
      await page.click("#summarise");
      await page.waitForSelector("#out-of-credits:not([hidden])");
      assert.match(await page.textContent("#out-of-credits-words") ?? "", /you have 0\./);
      assert.equal(await balance(), "0");
      const [row] = await stack.db.query<{ units: string }>(
        "select sum(units)::text as units from public.polar_usage_events",
      );
      assert.equal(row.units, "100", "exactly the credits held were recorded");
      await snap(page, "13-credits-refused");
    });

    await test.step("once Polar has counted the 100 units, the balance is still exactly 0", async () => {
      // The flush delivers the events; after its recompute delay Polar's meter says 100 consumed
      // and its webhook stores that. Neither may count the units a second time, or lose them.
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const [meter] = await stack.db.query<{ consumed: string | null; pending: string }>(
          `select (select consumed_units::text from public.polar_meters) as consumed,
            (select count(*)::text from public.polar_usage_events where delivered_at is null)
              as pending`,
        );
        if (meter.consumed === "100" && meter.pending === "0") break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      await page.reload();
      await page.waitForFunction(() => document.querySelector("#balance")?.textContent !== "…");
      assert.equal(await balance(), "0");
      const [meter] = await stack.db.query<{ consumed: string }>(
        "select consumed_units::text as consumed from public.polar_meters",
      );
      assert.equal(meter.consumed, "100", "Polar counted every unit spent");
      await page.click("#summarise");
      await page.waitForSelector("#out-of-credits:not([hidden])");
    });

    await test.step("buy credits: the pack's 500 show once Polar has counted them", async () => {
      await page.click("#buy-credits");
      await page.waitForURL(`${stack.info.polar_api_url}/checkout/**`);
      assert.match(await page.textContent("body") ?? "", /Credit pack/);
      await snap(page, "14-credit-pack-checkout");
      await page.click("text=Pay");
      await page.waitForURL(`${stack.info.site_url}/**`);
      assert.match(page.url(), /purchase=credits/);
      await page.waitForFunction(
        () => document.querySelector("#notice")?.textContent === "Credits added",
        undefined,
        { timeout: 30_000 },
      );
      await page.waitForFunction(() => document.querySelector("#balance")?.textContent === "500");
      assert.ok(!page.url().includes("checkout_id"), "the checkout id is dropped from the URL");
    });

    await test.step("spend again after the top-up", async () => {
      await summariseOnce(490);
      assert.equal(await page.isVisible("#out-of-credits"), false);
      await snap(page, "15-spent-after-top-up");
    });
  } finally {
    await browser.close();
  }
});

Deno.test("example page: teams: create a team, add a member, buy 3 seats, give one, notes follow the seat", async (test) => {
  await using stack = await startStack({ apiPort: 0, polarPort: 0, sitePort: 0 });
  const browser = await launch();
  try {
    const [ada, bob] = stack.info.users;
    // Two people, each in their own browser profile.
    const owner = await (await browser.newContext({ viewport: { width: 720, height: 900 } }))
      .newPage();
    const member = await (await browser.newContext({ viewport: { width: 720, height: 900 } }))
      .newPage();
    const card = (page: Page) => page.locator("#teams li.team").first();
    const memberRow = (page: Page, email: string) =>
      card(page).locator(`.members li:has(.email:text-is("${email}"))`);
    const seatRow = (page: Page, email: string) =>
      card(page).locator(`.seats li:has(.email:text-is("${email}"))`);
    const teamNotes = (page: Page) => card(page).locator(".team-notes li");
    const signIn = async (page: Page, user: { email: string; password: string }) => {
      await page.goto(stack.info.site_url);
      await page.fill("#email", user.email);
      await page.fill("#password", user.password);
      await page.click("#signin-button");
      await page.waitForSelector("#account:not([hidden])");
    };
    /** Reloads until the team's notes number `count` (Polar's webhooks arrive on their own). */
    const waitForNotes = async (page: Page, count: number) => {
      for (let tries = 0; tries < 20; tries++) {
        await page.reload();
        await card(page).locator(".team-name").waitFor();
        if (await teamNotes(page).count() === count) return;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      assert.equal(await teamNotes(page).count(), count);
    };

    await test.step("the owner creates a team: no seats yet, its notes locked", async () => {
      await signIn(owner, ada);
      await owner.waitForSelector("#teams-empty:not([hidden])");
      assert.match(await owner.textContent("#teams-empty") ?? "", /You are in no team yet/);
      await owner.fill("#team-name", "Acme design");
      await owner.click("#create-team");
      await card(owner).locator(".team-name").waitFor();
      assert.equal(await card(owner).locator(".team-name").textContent(), "Acme design");
      assert.equal(await card(owner).locator(".team-role").textContent(), "Owner");
      assert.equal(await owner.isVisible("#teams-empty"), false);
      assert.match(
        await card(owner).locator(".seat-summary").textContent() ?? "",
        /^No seats yet\. Buy seats for Acme design/,
      );
      assert.equal(await card(owner).locator(".buy-seats").textContent(), "Buy 3 seats");
      assert.match(await card(owner).locator(".team-price").textContent() ?? "", /a seat a /);
      assert.equal(await teamNotes(owner).count(), 0, "the owner holds no seat");
      assert.equal(await card(owner).locator(".notes-empty").isVisible(), true);
      assert.equal(await card(owner).locator(".manage-team").isVisible(), false, "no billing yet");
      // The team's product is sold here, not in the plans of one person.
      assert.equal(await owner.locator("#plans li").count(), 3);
      await snap(owner, "16-team-created");
    });

    await test.step("the owner adds the second user by email; an unknown email is refused in words", async () => {
      await card(owner).locator(".add-member input").fill("nobody@example.com");
      await card(owner).locator(".add-member button").click();
      await owner.waitForFunction(() =>
        document.querySelector("#teams li.team .team-message")?.textContent !== ""
      );
      assert.equal(
        await card(owner).locator(".team-message").textContent(),
        "No account with the email nobody@example.com yet: ask them to sign up first",
      );
      await card(owner).locator(".add-member input").fill(bob.email);
      await card(owner).locator(".add-member button").click();
      await memberRow(owner, bob.email).waitFor();
      assert.deepEqual(
        await card(owner).locator(".members .email").allTextContents(),
        [ada.email, bob.email],
      );
      assert.equal(await card(owner).locator(".give-seat").count(), 0, "no seats to give yet");
      await snap(owner, "17-member-added");
    });

    await test.step("buy 3 seats through Polar's checkout page", async () => {
      await card(owner).locator(".buy-seats").click();
      await owner.waitForURL(`${stack.info.polar_api_url}/checkout/**`);
      await snap(owner, "18-team-checkout");
      await owner.click("text=Pay");
      await owner.waitForURL(`${stack.info.site_url}/**`);
      await owner.waitForFunction(() =>
        document.querySelector("#teams-notice")?.textContent === "3 seats bought for Acme design"
      );
      await card(owner).locator(".seat-summary:text-is('0 of 3 seats taken')").waitFor();
      assert.ok(!owner.url().includes("checkout_id"), "the checkout id is dropped from the URL");
      assert.equal(await card(owner).locator(".buy-seats").isVisible(), false);
      assert.equal(await card(owner).locator(".manage-team").isVisible(), true);
      assert.equal(await card(owner).locator(".give-seat").count(), 2, "one per member");
      await snap(owner, "19-seats-bought");
    });

    await test.step("the owner gives the second user a seat", async () => {
      await memberRow(owner, bob.email).locator(".give-seat").click();
      await seatRow(owner, bob.email).waitFor();
      assert.equal(await memberRow(owner, bob.email).locator(".badge").textContent(), "Has a seat");
      assert.match(await seatRow(owner, bob.email).textContent() ?? "", /claimed/);
      assert.equal(await card(owner).locator(".seat-summary").textContent(), "1 of 3 seats taken");
      assert.equal(await card(owner).locator(".team-message").textContent(), "");
      await snap(owner, "20-seat-given");
    });

    await test.step("the second user signs in and reads the team's notes; seats are not theirs to manage", async () => {
      await signIn(member, bob);
      await waitForNotes(member, 2);
      assert.deepEqual(
        await teamNotes(member).locator("strong").allTextContents(),
        ["Welcome to Acme design", "Stand-up"],
      );
      assert.equal(await card(member).locator(".team-role").textContent(), "Member");
      assert.equal(
        await card(member).locator(".seat-summary").textContent(),
        "You hold a seat of this team.",
      );
      assert.equal(
        await card(member).locator(".seats-words").textContent(),
        MAY_NOT_MANAGE_SEATS_MESSAGE,
      );
      // A seat's "pro" is the member's entitlement too: has_entitlement's notes show as well.
      assert.deepEqual(
        await member.locator("#notes li strong").allTextContents(),
        ["Shortcuts", "Roadmap"],
      );
      for (const control of [".buy-seats", ".manage-team", ".add-member", ".give-seat"]) {
        assert.equal(await card(member).locator(control).isVisible(), false, control);
      }
      await snap(member, "21-member-reads-team-notes");
    });

    await test.step("with every seat taken, a fourth is refused in words", async () => {
      // Two more of the app's users join the team and take the other two seats.
      const others = ["cy@example.com", "dee@example.com"];
      for (const email of others) {
        await createPasswordUser(stack.db, email, `${email}-password`);
        await card(owner).locator(".add-member input").fill(email);
        await card(owner).locator(".add-member button").click();
        await memberRow(owner, email).locator(".give-seat").click();
        await seatRow(owner, email).waitFor();
      }
      assert.equal(await card(owner).locator(".seat-summary").textContent(), "3 of 3 seats taken");
      await memberRow(owner, ada.email).locator(".give-seat").click();
      await owner.waitForFunction(() =>
        document.querySelector("#teams li.team .team-message")?.textContent !== ""
      );
      assert.equal(await card(owner).locator(".team-message").textContent(), seatsTakenMessage(3));
      assert.equal(await memberRow(owner, ada.email).locator(".badge").count(), 0, "no seat");
      await snap(owner, "22-fourth-seat-refused");
      for (const email of others) {
        await seatRow(owner, email).locator(".revoke-seat").click();
        await seatRow(owner, email).waitFor({ state: "detached" });
      }
    });

    await test.step("the owner revokes the seat", async () => {
      await seatRow(owner, bob.email).locator(".revoke-seat").click();
      await card(owner).locator(".seat-summary:text-is('0 of 3 seats taken')").waitFor();
      assert.equal(await seatRow(owner, bob.email).count(), 0);
      assert.equal(await memberRow(owner, bob.email).locator(".give-seat").count(), 1);
      await snap(owner, "23-seat-revoked");
    });

    await test.step("after a reload the second user's team notes are gone", async () => {
      await waitForNotes(member, 0);
      assert.equal(await card(member).locator(".notes-empty").isVisible(), true);
      assert.equal(await member.locator("#notes li").count(), 0, "nor any members-only note");
      assert.equal(
        await card(member).locator(".seat-summary").textContent(),
        "You have no seat in this team yet: ask its owner for one.",
      );
      await snap(member, "24-member-without-seat");
    });

    await test.step("Manage team billing opens the team's portal", async () => {
      await card(owner).locator(".manage-team").click();
      await owner.waitForURL(`${stack.info.polar_api_url}/portal/**`);
      const portal = await owner.textContent("body") ?? "";
      assert.match(portal, new RegExp(`${ada.email} \\(owner\\)`), "the owner's member session");
      assert.match(portal, /Team: active, 3 seats/, "the team's subscription");
      await snap(owner, "25-team-portal");
    });
  } finally {
    await browser.close();
  }
});
