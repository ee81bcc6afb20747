// The demo checkout (/demo) in a real Chromium, against the service on its embedded sandbox.
// `bash e2e/run` builds and starts the service and runs this file; see README.md beside it.
'use strict';

const { describe, it, before, after, beforeEach, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { BASE_URL, launchBrowser, eventually, text, api } = require('./support');

const SHOP_API_KEY = process.env.SHOP_API_KEY || '';
const SCREENSHOT = process.env.E2E_SCREENSHOT || '';
const SANDBOX_URL = process.env.SANDBOX_URL || ''; // the embedded sandbox, for its fault injection

const FESTIVITEIT = '5a0967f9-cc06-4c3c-9206-30481a767434'; // € 10, line 0
const LIMITED = 'd83b5b8a-108a-45d6-9ac9-8bdc44a0a24a'; // € 15, line 1, one per passholder
// Organisatie B's event (€ 12): of another organizer than the default customer's, in Regio Gent.
const EVENT_B = '373d6cee-b4ae-4637-9b7c-eeb79e45f044';

// The path of a request or response (the demo backend's addresses carry ?shop=b at shop B).
const pathOf = (r) => new URL(r.url()).pathname;
const shopOf = (r) => new URL(r.url()).searchParams.get('shop');

describe('the demo checkout', { timeout: 120_000 }, () => {
  let browser;
  let page;
  let pageErrors;

  before(async () => {
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    page = await browser.context.newPage();
    pageErrors = [];
    page.on('pageerror', (error) => pageErrors.push(error));
    await page.goto(`${BASE_URL}/demo`);
    await page.getByTestId('line').nth(1).waitFor();
    await uitpas().locator('form').waitFor(); // the element is defined and rendered
  });

  afterEach(async () => {
    await page?.close();
    assert.deepEqual(pageErrors.map(String), [], 'the page threw');
  });

  // The shop's cart line i, and the element's (<uitpas-discount>, whose open shadow DOM
  // Playwright's locators enter) tariffs for it: its parts are the element's documented API.
  const line = (i) => page.locator(`#line-${i}`);
  const uitpas = () => page.locator('uitpas-discount');
  const uline = (i) => uitpas().locator(`[part~=line][data-line="${i}"]`);
  const option = (i, tariffId) =>
    uline(i).locator(`[data-unit="${i}:0"] [part~=tariff][data-tariff-id="${tariffId}"]`);
  const regular = (i) => option(i, '');
  const part = (name) => uitpas().locator(`[part~=${name}]`);

  // Types a number and presses "Controleer"; resolves once the element has the quote's answer
  // (when the number is well-formed: a mistyped one never leaves the page).
  async function checkPass(number, { quoted = true } = {}) {
    await uitpas().locator('input[name=uitpas-main]').fill(number);
    const answer = quoted && page.waitForResponse((r) => pathOf(r) === '/v1/quotes' && r.status() !== 429);
    await uitpas().getByRole('button', { name: 'Controleer' }).click();
    if (answer) await answer;
    await eventually(async () => assert.equal(await uitpas().locator('form').getAttribute('aria-busy'), 'false'));
  }

  async function passStatus() {
    return part('pass').first().getAttribute('data-status');
  }

  async function pay() {
    const sent = page.waitForRequest((r) => pathOf(r) === '/demo/api/orders');
    await page.getByTestId('pay').click();
    return sent;
  }

  // "Betalen" holds the discount: resolves once the payment step is shown.
  async function held() {
    await page.getByTestId('payment').waitFor({ state: 'visible' });
  }

  // The payment step's outcome: 'success' (confirm), 'failure' (release) or 'walk-away'.
  // Resolves once the demo backend answered (nothing is sent when walking away).
  async function payment(outcome) {
    await held();
    const action = { success: '/confirm', failure: '/release' }[outcome];
    const answered = action && page.waitForResponse((r) => pathOf(r).endsWith(action));
    await page.getByTestId(`pay-${outcome}`).click();
    if (answered) await (await answered).finished();
  }

  // The payment succeeds: the hold is confirmed and the registration is registered.
  async function registered() {
    await payment('success');
    await eventually(async () =>
      assert.equal(await page.getByTestId('order-message').getAttribute('data-status'), 'registered'),
    );
    return text(page.getByTestId('registration-id'));
  }

  // The answer of the checkout token the page had its shop backend mint, among `requests`.
  async function tokenOf(requests) {
    const minting = requests.filter((r) => pathOf(r) === '/demo/api/checkout-token');
    assert.equal(minting.length, 1, 'one checkout token for the page');
    const response = await minting[0].response();
    assert.equal(response.status(), 201);
    return response;
  }

  it('a pass with enough points is offered a reward with its cost and the balance, and the paid order redeems it', async () => {
    await checkPass('0900000095902'); // no social tariff, 100 points at start
    const rewards = part('rewards');
    await rewards.waitFor();
    const balance = Number(await rewards.getAttribute('data-points-balance'));
    assert.ok(balance >= 10, `balance ${balance}`);
    assert.match(await text(part('points-balance')), new RegExp(`Je hebt ${balance} UiTPAS-punten`));
    const coffee = uitpas().locator('[part~=reward][data-reward-id="5687"]');
    assert.equal(await text(coffee), 'Gratis koffie: 10 punten');
    assert.equal(await uitpas().locator('[part~=reward][data-reward-id=""] input').isChecked(), true); // none until picked
    await coffee.locator('input').check();

    const redeemed = page.waitForResponse((r) => pathOf(r) === '/demo/api/reward-redemptions');
    await page.getByTestId('pay').click();
    const answer = await redeemed;
    assert.equal(answer.status(), 201);
    const sent = answer.request().postDataJSON();
    assert.equal(sent.rewardId, '5687');
    assert.equal(sent.uitpasNumber, '0900000095902');
    assert.ok(answer.request().headers()['idempotency-key']);
    const result = page.getByTestId('reward-result');
    await eventually(async () => assert.equal(await result.getAttribute('data-status'), 'redeemed'));
    assert.match(await text(result), /Voordeel omgeruild: Gratis koffie \(10 punten\)/);
    if (SANDBOX_URL) {
      const { json } = await api('GET', `${SANDBOX_URL}/_sandbox/passes/0900000095902/points`);
      assert.equal(json.points, balance - 10, JSON.stringify(json));
    }

    // A group pass cannot redeem: the element says so, and offers none.
    await checkPass('0900000045410');
    assert.match(await text(part('rewards-message')), /groepspas/);
    assert.equal(await part('reward').count(), 0);
  });

  it('a reward picked beside a held discount is redeemed only once the payment succeeded', async () => {
    const redemptions = [];
    page.on('request', (r) => pathOf(r) === '/demo/api/reward-redemptions' && redemptions.push(r));
    await checkPass('0900000067513'); // social tariff active, 40 points at start
    await regular(1).locator('input').check();
    await uitpas().locator('[part~=reward][data-reward-id="5687"] input').check();
    await pay();
    await held();
    assert.equal(redemptions.length, 0, 'nothing redeemed before payment');
    const redeemed = page.waitForResponse((r) => pathOf(r) === '/demo/api/reward-redemptions');
    await registered();
    assert.equal((await redeemed).status(), 201);
    const result = page.getByTestId('reward-result');
    await eventually(async () => assert.equal(await result.getAttribute('data-status'), 'redeemed'));
    assert.equal(redemptions[0].postDataJSON().orderId, (await api('GET', `/demo/api/registrations/${await text(page.getByTestId('registration-id'))}`)).json.orderId);
  });

  it('a social-tariff pass gets the discounted price, and after paying its sale is in the ledger', async () => {
    const requests = [];
    page.on('request', (r) => requests.push(r));
    await page.reload(); // to see the checkout token minted as the page loads
    await page.getByTestId('line').nth(1).waitFor();
    await checkPass('0900000067513');

    assert.equal(await passStatus(), 'ACTIVE');
    assert.match(await text(part('pass-status').first()), /Kansentarief: actief/);
    const social = option(0, 'kansentarief-regio-gent');
    assert.equal(await text(social.locator('[part~=tariff-name]')), 'Kansentarief UiTPAS Regio Gent');
    assert.equal(await text(social.locator('[part~=tariff-price]')), '€ 2,00'); // 20 % of € 10
    assert.equal(await social.locator('input').isChecked(), true);
    assert.equal(await text(regular(0).locator('[part~=tariff-price]')), '€ 10,00');
    assert.equal(await text(line(0).getByTestId('line-total')), '€ 10,00 € 2,00');
    assert.equal(await text(option(1, 'kansentarief-regio-gent').locator('[part~=tariff-price]')), '€ 3,00');
    assert.equal(await text(page.getByTestId('cart-total')), '€ 5,00');

    // The second line at its regular price: only the first is registered at UiTPAS.
    await regular(1).locator('input').check();
    assert.equal(await text(page.getByTestId('cart-total')), '€ 17,00');
    const sent = await pay();
    await held();
    if (SCREENSHOT) {
      await page.mouse.move(0, 0);
      const height = await page.evaluate(() => Math.ceil(document.querySelector('main').getBoundingClientRect().bottom) + 24);
      await page.screenshot({ path: SCREENSHOT, clip: { x: 0, y: 0, width: 1100, height: Math.min(height, 900) } });
    }
    const registrationId = await registered();
    const body = sent.postDataJSON();
    assert.match(sent.headers()['idempotency-key'] || '', /^\S{16,}$/);
    assert.match(body.orderId, /^demo-/);
    assert.deepEqual(body.hold, {}); // a hold before payment, the demo backend's length
    assert.deepEqual(body.tickets, [
      {
        eventId: FESTIVITEIT,
        uitpasNumber: '0900000067513',
        tariffId: 'kansentarief-regio-gent',
        regularPrice: 10,
        quantity: 1,
      },
    ]);

    const rows = page.getByTestId('ticket-sale');
    assert.equal(await rows.count(), 1);
    assert.equal(await rows.first().getAttribute('data-status'), 'registered');
    assert.equal(await text(rows.first().getByTestId('sale-status')), 'geregistreerd');
    const uitpasSaleId = await text(rows.first().getByTestId('sale-uitpas-id'));
    assert.match(uitpasSaleId, /^[0-9a-f-]{8,}$/i);

    // The ledger has it: through the demo shop backend, and through the shop API with its key.
    const { status, json } = await api('GET', `/demo/api/registrations/${registrationId}`);
    assert.equal(status, 200);
    assert.equal(json.status, 'registered');
    assert.equal(json.orderId, body.orderId);
    assert.equal(json.ticketSales.length, 1);
    assert.equal(json.ticketSales[0].uitpasTicketSaleId, uitpasSaleId);
    assert.equal(json.ticketSales[0].tariff.price, 2);
    if (SHOP_API_KEY) {
      const sales = await api('GET', `/v1/ticket-sales?orderId=${encodeURIComponent(body.orderId)}`, {
        headers: { Authorization: `Bearer ${SHOP_API_KEY}` },
      });
      assert.equal(sales.status, 200);
      assert.equal(sales.json.totalItems, 1);
      assert.equal(sales.json.member[0].uitpasTicketSaleId, uitpasSaleId);
      assert.equal(sales.json.member[0].status, 'registered');
    }

    // The public API was asked with the default shop's checkout token, its backend with no credential.
    const minted = await (await tokenOf(requests)).json();
    assert.deepEqual(minted.eventIds, [FESTIVITEIT, LIMITED].sort());
    const asked = requests.filter((r) => pathOf(r).startsWith('/v1/'));
    assert.ok(asked.length >= 3); // the static tariffs of both lines (the teaser), the quote
    for (const r of asked) assert.equal(r.headers().authorization, `Bearer ${minted.token}`, r.url());
    const backend = requests.filter((r) => pathOf(r).startsWith('/demo/api/'));
    assert.ok(backend.length >= 3); // the token, the order, the confirmation
    for (const r of backend) {
      assert.equal(r.headers().authorization, undefined, r.url());
      assert.equal(shopOf(r), null, r.url()); // the default shop
    }
  });

  it('an expired pass sees its message about the kansentarief, and nothing is registered', async () => {
    const orders = [];
    page.on('request', (r) => pathOf(r).startsWith('/demo/api/orders') && orders.push(r.url()));
    await checkPass('0900000058918');

    assert.equal(await passStatus(), 'EXPIRED');
    assert.match(await text(part('pass-status').first()), /verlopen/);
    // Every message of the pass is on the page.
    const expected = (await api('GET', '/v1/passes/0900000058918')).json.messages;
    assert.ok(expected.length >= 1);
    const shown = part('pass-message');
    assert.equal(await shown.count(), expected.length);
    for (const [i, message] of expected.entries()) {
      assert.equal(await text(shown.nth(i)), message.text);
      assert.equal(await shown.nth(i).getAttribute('data-level'), message.level);
      assert.equal(await shown.nth(i).isVisible(), true);
    }
    const warn = uitpas().locator('[part~=pass-message][data-level=WARN]');
    assert.match(await text(warn), /kansentarief/);

    // Each line says why there is no discount, and costs its regular price.
    for (const i of [0, 1]) {
      assert.equal(await uline(i).locator('[part~=tariffs]').count(), 0);
      assert.equal(await uline(i).locator('[part~=line-problem]').isVisible(), true);
      assert.match(await text(uline(i).locator('[part~=line-problem]')), /kansentarief is verlopen/);
    }
    assert.equal(await text(page.getByTestId('cart-total')), '€ 25,00');

    await page.getByTestId('pay').click();
    await eventually(async () =>
      assert.match(await text(page.getByTestId('order-message')), /niets bij UiTPAS geregistreerd/),
    );
    assert.deepEqual(orders, []);
  });

  it('a mistyped number gets a clear error on the page, and an unknown pass says so', async () => {
    const quotes = [];
    page.on('request', (r) => pathOf(r) === '/v1/quotes' && quotes.push(r.url()));
    await checkPass('0900000067514', { quoted: false });
    const error = part('error').first();
    await eventually(async () => assert.equal(await error.isVisible(), true));
    assert.equal(await text(error), 'Dit UiTPAS-nummer klopt niet. Controleer de 13 cijfers op je kaart.');
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.equal(await uitpas().getByLabel(/^UiTPAS-nummer/).getAttribute('aria-invalid'), 'true');
    assert.equal(await part('pass-status').count(), 0);
    assert.equal(await part('tariffs').count(), 0);
    assert.deepEqual(quotes, []);

    await checkPass('0900000074519'); // well-formed, not a passholder's card: the quote says so
    await eventually(async () => assert.equal(await text(error), 'We vonden geen UiTPAS met dit nummer.'));
    assert.equal(quotes.length, 1);
    assert.equal(await part('tariffs').count(), 0);
  });

  it('cancelling a registered ticket sale settles it as cancelled', async () => {
    await checkPass('0900000093204'); // Paspartoe: the social tariff and two coupons
    assert.equal(await option(0, 'kansentarief-paspartoe').locator('input').isChecked(), true);
    assert.equal(await text(option(0, 'kansentarief-paspartoe').locator('[part~=tariff-price]')), '€ 2,50');
    assert.equal(await uline(0).locator('[part~=tariff]').count(), 4); // 3 tariffs + regular
    await regular(1).locator('input').check();
    await pay();
    const registrationId = await registered();

    const row = page.getByTestId('ticket-sale').first();
    const saleId = await row.getAttribute('data-sale-id');
    const answer = page.waitForResponse((r) => pathOf(r) === `/demo/api/ticket-sales/${saleId}`);
    await row.getByTestId('cancel-sale').click();
    assert.equal((await answer).status(), 204);
    await eventually(async () => assert.equal(await row.getAttribute('data-status'), 'cancelled'));
    assert.equal(await text(row.getByTestId('sale-status')), 'geannuleerd');
    assert.equal(await row.getByTestId('cancel-sale').isVisible(), false);
    assert.match(await text(page.getByTestId('order-message')), /geannuleerd/);

    const { json } = await api('GET', `/demo/api/registrations/${registrationId}`);
    assert.equal(json.ticketSales[0].id, saleId);
    assert.equal(json.ticketSales[0].status, 'cancelled');
    assert.ok(json.ticketSales[0].cancelledAt);
  });

  it('paying again after a lost answer reuses the Idempotency-Key and registers once', async () => {
    await checkPass('0900000045410'); // a group pass with the social tariff
    await regular(1).locator('input').check();

    // The first answer is lost after the shop backend registered the order.
    let lost = null;
    await page.route('**/demo/api/orders', async (route) => {
      if (lost) return route.continue();
      const response = await route.fetch();
      lost = { status: response.status(), body: await response.json() };
      return route.abort('connectionreset');
    });
    const first = await pay();
    await eventually(async () =>
      assert.match(await text(page.getByTestId('order-message')), /niet dubbel geregistreerd/),
    );
    assert.equal(lost.status, 201);
    assert.equal(await page.getByTestId('pay').isEnabled(), true);

    const second = await pay();
    const registrationId = await registered();
    assert.equal(second.headers()['idempotency-key'], first.headers()['idempotency-key']);
    assert.equal(second.postData(), first.postData());
    assert.equal(registrationId, lost.body.id);

    const { json } = await api('GET', `/demo/api/registrations/${registrationId}`);
    assert.equal(json.ticketSales.length, 1);
    if (SHOP_API_KEY) {
      const sales = await api('GET', `/v1/ticket-sales?orderId=${encodeURIComponent(json.orderId)}`, {
        headers: { Authorization: `Bearer ${SHOP_API_KEY}` },
      });
      assert.equal(sales.json.totalItems, 1);
    }
  });

  // Makes UiTPAS answer 503 to the next request of one operation (the embedded sandbox's faults).
  async function failOnce(operation) {
    const set = await api('PUT', `${SANDBOX_URL}/_sandbox/faults`, {
      body: { operation, mode: 'error', status: 503, times: 1 },
    });
    assert.equal(set.status, 200, set.raw);
  }

  async function refreshUntil(status, row) {
    await eventually(
      async () => {
        await page.getByTestId('refresh-registration').click({ timeout: 2_000 }).catch(() => {});
        assert.equal(await row.getAttribute('data-status'), status);
      },
      { timeout: 30_000, interval: 500 },
    );
  }

  // A hold UiTPAS has not accepted (202 pending) never goes to the discounted payment: the page
  // offers the regular price, or waits until UiTPAS holds it (the guide, §9).
  it('a hold UiTPAS has not accepted offers the regular price or waiting, and the discount only once UiTPAS holds it', { skip: !SANDBOX_URL && 'no SANDBOX_URL' }, async () => {
    try {
      await checkPass('0900000031618'); // social tariff expired, one single-use coupon of € 1
      const coupon = option(0, 'bon-gent-31618');
      assert.equal(await coupon.locator('input').isChecked(), false); // a coupon is never chosen for you
      assert.match(await text(uline(0).locator('[part~=line-message]')), /bon kan je wel nog gebruiken/);
      await coupon.locator('input').check();
      await regular(1).locator('input').check();
      assert.equal(await text(page.getByTestId('cart-total')), '€ 16,00');

      await failOnce('post-ticket-sales');
      const answer = page.waitForResponse((r) => pathOf(r) === '/demo/api/orders');
      await pay();
      assert.equal((await answer).status(), 202);
      const message = page.getByTestId('order-message');
      await eventually(async () => assert.equal(await message.getAttribute('data-status'), 'pending'));
      assert.match(await text(message), /nog niet vastgehouden/);
      // No way to pay the discounted price: only the regular price, or waiting.
      assert.equal(await page.getByTestId('payment').isVisible(), false);
      assert.equal(await page.getByTestId('pay-success').isVisible(), false);
      assert.equal(await page.getByTestId('pay-regular').isVisible(), true);
      const row = page.getByTestId('ticket-sale').first();
      assert.equal(await row.getAttribute('data-status'), 'pending');
      assert.equal(await row.getByTestId('cancel-sale').isVisible(), false);

      // Waiting: the replay worker registers the hold at UiTPAS, the page sees it held by itself
      // and only then offers the payment of the discounted price.
      await page.getByTestId('payment').waitFor({ state: 'visible', timeout: 30_000 });
      assert.equal(await message.getAttribute('data-status'), 'held');
      assert.equal(await page.getByTestId('pay-regular').isVisible(), false);
      await payment('success');
      await eventually(async () => assert.equal(await message.getAttribute('data-status'), 'registered'));
      assert.equal(await row.getAttribute('data-status'), 'registered');
      assert.match(await text(row.getByTestId('sale-uitpas-id')), /^[0-9a-f-]{8,}$/i);
    } finally {
      await api('DELETE', `${SANDBOX_URL}/_sandbox/faults`);
    }
  });

  it('paying the regular price instead of waiting releases the hold UiTPAS has not accepted', { skip: !SANDBOX_URL && 'no SANDBOX_URL' }, async () => {
    try {
      await checkPass('0900000067513');
      await regular(1).locator('input').check();
      // UiTPAS stays unreachable for ticket sales until the faults are cleared.
      const set = await api('PUT', `${SANDBOX_URL}/_sandbox/faults`, {
        body: { operation: 'post-ticket-sales', mode: 'error', status: 503 },
      });
      assert.equal(set.status, 200, set.raw);
      const answer = page.waitForResponse((r) => pathOf(r) === '/demo/api/orders');
      await pay();
      const orders = await answer;
      assert.equal(orders.status(), 202);
      const { id } = await orders.json();
      await page.getByTestId('pay-regular').waitFor({ state: 'visible' });
      assert.equal(await page.getByTestId('payment').isVisible(), false);

      const released = page.waitForResponse((r) => pathOf(r).endsWith('/release'));
      await page.getByTestId('pay-regular').click();
      assert.equal((await released).status(), 200);
      const message = page.getByTestId('order-message');
      await eventually(async () => assert.match(await text(message), /Betaald \(demo\): € 25,00/));
      assert.match(await text(message), /niets bij UiTPAS geregistreerd/);
      assert.equal(await page.getByTestId('payment').isVisible(), false);
      const { json } = await api('GET', `/demo/api/registrations/${id}`);
      assert.equal(json.status, 'released', JSON.stringify(json));
    } finally {
      await api('DELETE', `${SANDBOX_URL}/_sandbox/faults`);
    }
  });

  it('a cancellation UiTPAS cannot take now is cancelling, and a refresh shows it cancelled', { skip: !SANDBOX_URL && 'no SANDBOX_URL' }, async () => {
    try {
      await checkPass('0900000067513');
      await regular(1).locator('input').check();
      await pay();
      await registered();
      const row = page.getByTestId('ticket-sale').first();

      await failOnce('delete-ticket-sales');
      const answer = page.waitForResponse((r) => pathOf(r).startsWith('/demo/api/ticket-sales/'));
      await row.getByTestId('cancel-sale').click();
      assert.equal((await answer).status(), 202);
      await eventually(async () => assert.equal(await row.getAttribute('data-status'), 'cancelling'));
      assert.equal(await text(row.getByTestId('sale-status')), 'wordt geannuleerd');
      assert.match(await text(page.getByTestId('order-message')), /wordt bij UiTPAS verwerkt/);

      await refreshUntil('cancelled', row);
      assert.equal(await text(row.getByTestId('sale-status')), 'geannuleerd');
    } finally {
      await api('DELETE', `${SANDBOX_URL}/_sandbox/faults`);
    }
  });

  it('a second ticket asks for a number of its own, and UiTPAS refusing the order is shown', { skip: !SHOP_API_KEY && 'no SHOP_API_KEY' }, async () => {
    const number = '0900010959113'; // active in its grace period, with a message
    await checkPass(number);
    assert.equal(await passStatus(), 'ACTIVE');
    assert.match(await text(part('pass-message').first()), /loopt af/);

    // Two tickets: an individual pass buys one at the social tariff, the second needs its own pass.
    const quoted = page.waitForResponse((r) => pathOf(r) === '/v1/quotes' && r.status() !== 429);
    await line(1).getByLabel('Aantal').fill('2');
    await line(1).getByLabel('Aantal').press('Tab');
    assert.deepEqual(
      (await quoted).request().postDataJSON().lines.map((l) => [l.eventId, l.quantity, l.uitpasNumber]),
      [[FESTIVITEIT, 1, number], [LIMITED, 1, number]],
    );
    const second = uitpas().getByLabel('UiTPAS-nummer voor ticket 2 van Test event met beperkte aankoop');
    await eventually(async () => assert.equal(await second.isVisible(), true));
    assert.equal(await second.inputValue(), '');
    await eventually(async () => assert.equal(await text(line(1).getByTestId('line-total')), '€ 30,00 € 18,00'));

    // Meanwhile the pass uses its one ticket a week at the limited event (the box office, say).
    const boxOffice = await api('POST', '/v1/registrations', {
      headers: { Authorization: `Bearer ${SHOP_API_KEY}`, 'Idempotency-Key': `box-office-${Date.now()}` },
      body: {
        orderId: `box-office-${Date.now()}`,
        tickets: [{ eventId: LIMITED, uitpasNumber: number, tariffId: 'kansentarief-regio-gent', regularPrice: 15 }],
      },
    });
    assert.equal(boxOffice.status, 201, boxOffice.raw);

    // UiTPAS refuses the whole order before payment and the page says why.
    await regular(0).locator('input').check();
    const refused = await pay();
    const message = page.getByTestId('order-message');
    await eventually(async () => assert.equal(await message.getAttribute('data-level'), 'error'));
    assert.equal((await refused.response()).status(), 400);
    assert.match(await text(message), /Test event met beperkte aankoop/);
    assert.match(await text(message), /maximum aantal tickets met UiTPAS-korting/);
    assert.match(await text(message), /^Geen UiTPAS-korting/); // refused before payment
    assert.equal(await page.getByTestId('payment').isVisible(), false);
    assert.equal(await page.getByTestId('pay-regular').isVisible(), true);
    assert.equal(await page.getByTestId('ticket-sale').count(), 0);

    // A refusal is final for its key: paying again is a new order with a new key (not a 422).
    await eventually(async () => assert.equal(await page.getByTestId('pay').isEnabled(), true));
    const again = await pay();
    assert.notEqual(again.headers()['idempotency-key'], refused.headers()['idempotency-key']);
    assert.notEqual(again.postDataJSON().orderId, refused.postDataJSON().orderId);
    assert.equal((await again.response()).status(), 400);

    // The buyer pays the regular price instead: nothing is sent to UiTPAS.
    await eventually(async () => assert.equal(await page.getByTestId('pay-regular').isVisible(), true));
    await page.getByTestId('pay-regular').click();
    await eventually(async () => assert.match(await text(message), /Betaald \(demo\): € 40,00/));
  });

  it('a failed payment releases the hold: its sale is cancelled at UiTPAS', async () => {
    await checkPass('0900000067513');
    await regular(1).locator('input').check();
    const sent = await pay();
    await held();
    const message = page.getByTestId('order-message');
    assert.equal(await message.getAttribute('data-status'), 'held');
    assert.match(await text(message), /vastgehouden/);
    assert.match(await text(page.getByTestId('hold-countdown')), /^\d+ s$/);
    const row = page.getByTestId('ticket-sale').first();
    assert.equal(await row.getAttribute('data-status'), 'registered'); // a hold is a registered sale
    assert.equal(await row.getByTestId('cancel-sale').isVisible(), false); // not before payment
    const registrationId = await text(page.getByTestId('registration-id'));

    const released = page.waitForResponse((r) => pathOf(r) === `/demo/api/orders/${registrationId}/release`);
    await payment('failure');
    assert.equal((await released).status(), 200);
    await eventually(async () => assert.equal(await message.getAttribute('data-status'), 'released'));
    assert.match(await text(message), /mislukt.*vrijgegeven/);
    assert.equal(await page.getByTestId('payment').isVisible(), false);
    await eventually(async () => assert.match(await row.getAttribute('data-status'), /^cancel/));

    const { json } = await api('GET', `/demo/api/registrations/${registrationId}`);
    assert.equal(json.status, 'released');
    assert.equal(json.hold.state, 'released');
    assert.equal(json.orderId, sent.postDataJSON().orderId);
    // Confirming now is too late, and says so.
    const late = await api('POST', `/demo/api/orders/${registrationId}/confirm`);
    assert.equal(late.status, 409);
    assert.equal(late.json.type, 'urn:uitpas-checkout:problem:hold-released');
  });

  it('walking away from the payment lets the hold expire, and the service releases it', async () => {
    await page.goto(`${BASE_URL}/demo?hold=3`); // a 3-second hold
    await page.getByTestId('line').nth(1).waitFor();
    await checkPass('0900010959113');
    await regular(1).locator('input').check();
    const sent = await pay();
    assert.deepEqual(sent.postDataJSON().hold, { expiresIn: 3 });
    await held();
    const registrationId = await text(page.getByTestId('registration-id'));
    const { json: before } = await api('GET', `/demo/api/registrations/${registrationId}`);
    assert.equal(before.status, 'held');
    const ttl = Date.parse(before.hold.expiresAt) - Date.parse(before.createdAt);
    assert.ok(ttl > 2_000 && ttl < 4_000, `expiresAt ${before.hold.expiresAt}`);

    await payment('walk-away'); // nothing is sent: the buyer closed the payment page
    const message = page.getByTestId('order-message');
    assert.equal(await page.getByTestId('payment').isVisible(), false);
    assert.match(await text(message), /liet de betaling liggen/);
    // The service's worker expires it (the page asks once the countdown is over).
    await eventually(async () => assert.equal(await message.getAttribute('data-status'), 'expired'), {
      timeout: 30_000,
      interval: 250,
    });
    assert.match(await text(message), /vervallen/);
    const row = page.getByTestId('ticket-sale').first();
    await eventually(async () => assert.match(await row.getAttribute('data-status'), /^cancel/));

    const { json } = await api('GET', `/demo/api/registrations/${registrationId}`);
    assert.equal(json.status, 'expired');
    const late = await api('POST', `/demo/api/orders/${registrationId}/confirm`);
    assert.equal(late.status, 409);
    assert.equal(late.json.type, 'urn:uitpas-checkout:problem:hold-expired');
  });

  it('a hold that expires while the buyer is still paying is shown as expired, not paid', async () => {
    await page.goto(`${BASE_URL}/demo?hold=2`);
    await page.getByTestId('line').nth(1).waitFor();
    await checkPass('0900000067513');
    await regular(1).locator('input').check();
    await pay();
    await held();
    const message = page.getByTestId('order-message');
    await eventually(async () => assert.equal(await message.getAttribute('data-status'), 'expired'), {
      timeout: 30_000,
      interval: 250,
    });
    assert.equal(await page.getByTestId('payment').isVisible(), false);
    assert.equal(await page.getByTestId('new-order').isVisible(), true);
    assert.equal(await page.getByTestId('cancel-sale').first().isVisible(), false);
  });

  it('a tariff with nothing remaining is shown as used up, not offered', async () => {
    const number = '0999000177702'; // a synthetic pass with the social tariff, used by no other test
    await checkPass(number);
    const social = uline(1).locator('[part~=tariff][data-tariff-id^=kansentarief]');
    assert.equal(await social.locator('input').isChecked(), true);
    await regular(0).locator('input').check();
    await pay();
    await registered(); // the limited event allows one ticket per passholder: now used

    await page.goto(`${BASE_URL}/demo`);
    await page.getByTestId('line').nth(1).waitFor();
    await checkPass(number);
    assert.equal(await social.getAttribute('data-disabled'), '');
    assert.equal(await social.locator('input').isDisabled(), true);
    assert.equal(await social.locator('input').isChecked(), false);
    assert.equal(await text(social.locator('[part~=tariff-extra]')), 'opgebruikt');
    assert.equal(await regular(1).locator('input').isChecked(), true);
    assert.equal(await uline(1).locator('[part~=warning]').count(), 0);
    assert.doesNotMatch(await text(uline(1)), /nog 0|nog maar 0/);
    assert.match(await text(uline(1).locator('[part~=line-message]')), /maximum aantal tickets/);
    assert.equal(await text(line(1).getByTestId('line-total')), '€ 15,00');
  });

  it('at Organisatie B, a second customer, a group pass buys its event, registered under that shop only', async () => {
    // What the default shop's page asked first (its teaser, shown once answered) is not shop B's.
    await eventually(async () => assert.equal(await part('teaser').isVisible(), true));
    const requests = [];
    page.on('request', (r) => requests.push(r));
    assert.equal(await page.getByTestId('shop-default').isChecked(), true);
    const minted = page.waitForResponse((r) => pathOf(r) === '/demo/api/checkout-token' && shopOf(r) === 'b');
    await page.getByTestId('shop-b').check();
    const token = await (await minted).json();
    assert.deepEqual(token.eventIds, [EVENT_B]);
    assert.match(token.token, /^ct_[0-9a-f]{64}$/);
    assert.equal(new URL(page.url()).searchParams.get('shop'), 'b');
    assert.equal(await text(page.getByTestId('shop-name')), 'Organisatie B');
    assert.equal(await page.getByTestId('line').count(), 1);
    assert.equal(await text(line(0).getByTestId('line-name')), 'Test event van Organisatie B');

    await checkPass('0900000045410'); // a group pass with the social tariff in Regio Gent
    assert.equal(await passStatus(), 'ACTIVE');
    assert.match(await text(part('pass-status').first()), /groepspas/);
    const social = option(0, 'kansentarief-regio-gent');
    assert.equal(await text(social.locator('[part~=tariff-price]')), '€ 2,40'); // 20 % of € 12
    assert.equal(await social.locator('input').isChecked(), true);
    assert.equal(await text(page.getByTestId('cart-total')), '€ 2,40');
    const sent = await pay();
    assert.equal(shopOf(sent), 'b');
    const registrationId = await registered();
    assert.deepEqual(sent.postDataJSON().tickets, [
      { eventId: EVENT_B, uitpasNumber: '0900000045410', tariffId: 'kansentarief-regio-gent', regularPrice: 12, quantity: 1 },
    ]);
    const row = page.getByTestId('ticket-sale').first();
    assert.equal(await row.getAttribute('data-status'), 'registered');
    const uitpasSaleId = await text(row.getByTestId('sale-uitpas-id'));
    assert.match(uitpasSaleId, /^[0-9a-f-]{8,}$/i);

    // The public API was asked with shop B's token; every backend call was shop B's.
    const asked = requests.filter((r) => pathOf(r).startsWith('/v1/'));
    assert.ok(asked.length >= 2); // the static tariffs (the teaser), the quote
    for (const r of asked) assert.equal(r.headers().authorization, `Bearer ${token.token}`, r.url());
    for (const r of requests.filter((r) => /^\/demo\/api\/(orders|registrations|ticket-sales)/.test(pathOf(r)))) {
      assert.equal(shopOf(r), 'b', r.url());
    }

    // Shop B's backend has it; the default shop does not see it, nor act on it.
    const { status, json } = await api('GET', `/demo/api/registrations/${registrationId}?shop=b`);
    assert.equal(status, 200);
    assert.equal(json.status, 'registered');
    assert.equal(json.ticketSales[0].eventId, EVENT_B);
    assert.equal(json.ticketSales[0].uitpasTicketSaleId, uitpasSaleId);
    const saleId = json.ticketSales[0].id;
    assert.equal((await api('GET', `/demo/api/registrations/${registrationId}`)).status, 404);
    assert.equal((await api('POST', `/demo/api/orders/${registrationId}/release`)).status, 404);
    assert.equal((await api('DELETE', `/demo/api/ticket-sales/${saleId}`)).status, 404);
    if (SHOP_API_KEY) {
      const auth = { headers: { Authorization: `Bearer ${SHOP_API_KEY}` } };
      assert.equal((await api('GET', `/v1/registrations/${registrationId}`, auth)).status, 404);
      const sales = await api('GET', `/v1/ticket-sales?orderId=${encodeURIComponent(json.orderId)}`, auth);
      assert.equal(sales.status, 200);
      assert.equal(sales.json.totalItems, 0);
    }
    // UiTPAS (the sandbox) has the sale, for shop B's event.
    if (SANDBOX_URL) {
      const ledger = await api('GET', `${SANDBOX_URL}/_sandbox/ledger`);
      assert.equal(ledger.status, 200, ledger.raw);
      const sale = ledger.json.ticketSales.find((s) => s.id === uitpasSaleId);
      assert.ok(sale, 'the sale is at UiTPAS');
      assert.equal(sale.eventId, EVENT_B);
      assert.equal(sale.status, 'ACTIVE');
    }
    // Shop B's token asks about shop B's cart only.
    const other = await api('POST', '/v1/quotes', {
      headers: { Authorization: `Bearer ${token.token}` },
      body: { uitpasNumber: '0900000045410', lines: [{ eventId: FESTIVITEIT, regularPrice: 10, quantity: 1 }] },
    });
    assert.equal(other.status, 403, other.raw);
    assert.equal(other.json.type, 'urn:uitpas-checkout:problem:event-not-in-checkout-token');

    // Shop B refunds it, with its own credentials at UiTPAS.
    const cancelled = page.waitForResponse((r) => pathOf(r) === `/demo/api/ticket-sales/${saleId}`);
    await row.getByTestId('cancel-sale').click();
    const answer = await cancelled;
    assert.equal(answer.status(), 204);
    assert.equal(shopOf(answer), 'b');
    await eventually(async () => assert.equal(await row.getAttribute('data-status'), 'cancelled'));
  });

  it('the default shop still sells its own cart after Organisatie B, with a token of its own', async () => {
    await page.goto(`${BASE_URL}/demo?shop=b`);
    await page.getByTestId('line').first().waitFor();
    await uitpas().locator('form').waitFor();
    assert.equal(await page.getByTestId('shop-b').isChecked(), true);
    assert.equal(await page.getByTestId('line').count(), 1);

    const minted = page.waitForResponse((r) => pathOf(r) === '/demo/api/checkout-token' && shopOf(r) === null);
    await page.getByTestId('shop-default').check();
    const token = await (await minted).json();
    assert.deepEqual(token.eventIds, [FESTIVITEIT, LIMITED].sort());
    assert.equal(new URL(page.url()).searchParams.get('shop'), null);
    assert.equal(await text(page.getByTestId('shop-name')), 'Demo-webshop');
    assert.equal(await page.getByTestId('line').count(), 2);

    const quote = page.waitForRequest((r) => pathOf(r) === '/v1/quotes');
    await checkPass('0900000067513');
    assert.equal((await quote).headers().authorization, `Bearer ${token.token}`);
    assert.equal(await text(option(0, 'kansentarief-regio-gent').locator('[part~=tariff-price]')), '€ 2,00');
    await regular(1).locator('input').check();
    const sent = await pay();
    assert.equal(shopOf(sent), null);
    const registrationId = await registered();
    assert.equal((await api('GET', `/demo/api/registrations/${registrationId}`)).json.status, 'registered');
    assert.equal((await api('GET', `/demo/api/registrations/${registrationId}?shop=b`)).status, 404);
    // The default shop's token does not ask about shop B's event.
    const other = await api('POST', '/v1/quotes', {
      headers: { Authorization: `Bearer ${token.token}` },
      body: { uitpasNumber: '0900000067513', lines: [{ eventId: EVENT_B, regularPrice: 12, quantity: 1 }] },
    });
    assert.equal(other.status, 403, other.raw);
    assert.equal(other.json.type, 'urn:uitpas-checkout:problem:event-not-in-checkout-token');
  });

  it('the page holds no secret key: only a checkout token for its cart, which the shop API refuses', async () => {
    for (const path of ['/demo', '/demo/', '/demo/app.js', '/demo/style.css', '/element/v1/uitpas-discount.js']) {
      const { status, raw } = await api('GET', path);
      assert.equal(status, 200, path);
      assert.doesNotMatch(raw, /\b(sk|ct|pk)_[0-9a-f]{16,}/, path);
      if (SHOP_API_KEY) assert.equal(raw.includes(SHOP_API_KEY), false, path);
    }
    const html = await page.content();
    assert.doesNotMatch(html, /\b(sk|ct)_[0-9a-f]{16,}/);
    if (SHOP_API_KEY) assert.equal(html.includes(SHOP_API_KEY), false);
    // The shop API stays closed without the key, and to a checkout token.
    assert.equal((await api('GET', '/v1/ticket-sales')).status, 401);
    for (const shop of ['', '?shop=b']) {
      const minted = await api('POST', `/demo/api/checkout-token${shop}`);
      assert.equal(minted.status, 201, minted.raw);
      const withToken = { headers: { Authorization: `Bearer ${minted.json.token}` } };
      assert.equal((await api('GET', '/v1/ticket-sales', withToken)).status, 401, shop);
    }
    assert.equal((await api('POST', '/demo/api/checkout-token?shop=c')).status, 400);
  });
});
