// The <uitpas-discount> element in a real Chromium, in the demo shop (its first user), against the
// service on its embedded sandbox. `bash e2e/run` starts the service and runs this file.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const { describe, it, before, after, beforeEach, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { BASE_URL, launchBrowser, eventually, text, api } = require('./support');

const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const FESTIVITEIT = '5a0967f9-cc06-4c3c-9206-30481a767434'; // € 10, line 0
const LIMITED = 'd83b5b8a-108a-45d6-9ac9-8bdc44a0a24a'; // € 15, line 1
const PARENT = '0900011902815'; // a family account: parent and child, both with the social tariff
const CHILD = '0900011903417';
const GENT = 'kansentarief-regio-gent';

const pathOf = (r) => new URL(r.url()).pathname;

describe('the <uitpas-discount> element', { timeout: 120_000 }, () => {
  let browser;
  let page;
  let pageErrors;
  let quotes; // the /v1/quotes requests of the page

  before(async () => {
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    page = await browser.context.newPage();
    pageErrors = [];
    quotes = [];
    page.on('pageerror', (error) => pageErrors.push(error));
    page.on('request', (r) => pathOf(r) === '/v1/quotes' && quotes.push(r));
  });

  afterEach(async () => {
    await page?.close();
    assert.deepEqual(pageErrors.map(String), [], 'the page threw');
  });

  const uitpas = () => page.locator('uitpas-discount');
  const part = (name) => uitpas().locator(`[part~=${name}]`);
  const unit = (key) => uitpas().locator(`[part~=unit][data-unit="${key}"]`);
  const option = (key, tariffId) => unit(key).locator(`[part~=tariff][data-tariff-id="${tariffId}"]`);
  const field = (key) => uitpas().locator(`input[name="uitpas-${key}"]`);

  // The demo, its element rendered, and every `uitpas-quote` and `uitpas-error` it emits kept.
  async function open(query = '') {
    await page.goto(`${BASE_URL}/demo${query}`);
    await uitpas().locator('form').waitFor();
    await page.evaluate(() => {
      const element = document.querySelector('uitpas-discount');
      window.seen = { quote: [], error: [] };
      element.addEventListener('uitpas-quote', (e) => window.seen.quote.push(e.detail));
      element.addEventListener('uitpas-error', (e) => window.seen.error.push(e.detail));
    });
  }
  const seen = () => page.evaluate(() => window.seen);
  const lastQuote = async () => (await seen()).quote.at(-1);

  // Fills a number field and presses Enter (the keyboard's way); resolves once the element is idle.
  async function enter(key, number, { quoted = true } = {}) {
    const answer = quoted && page.waitForResponse((r) => pathOf(r) === '/v1/quotes' && r.status() !== 429);
    await field(key).fill(number);
    await field(key).press('Enter');
    if (answer) await answer;
    await eventually(async () => assert.equal(await uitpas().locator('form').getAttribute('aria-busy'), 'false'));
  }

  async function quantity(line, n) {
    await page.locator(`#line-${line}`).getByLabel('Aantal').fill(String(n));
    await page.locator(`#line-${line}`).getByLabel('Aantal').press('Tab');
  }

  // axe-core on the page: nothing at all inside the element, nothing serious or critical elsewhere.
  async function accessible(what) {
    await page.evaluate(AXE);
    const results = await page.evaluate(() =>
      // eslint-disable-next-line no-undef
      axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } }),
    );
    const describe = (v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`;
    const inElement = results.violations.filter((v) => v.nodes.some((n) => JSON.stringify(n.target).includes('uitpas-discount')));
    assert.deepEqual(inElement.map(describe), [], `accessibility of the element, ${what}`);
    const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(serious.map(describe), [], `accessibility of the page, ${what}`);
  }

  it('shows the static "from" teaser before a number is known, and hides it once the tariffs are there', async () => {
    const statics = [];
    page.on('request', (r) => pathOf(r) === '/v1/tariffs/static' && statics.push(new URL(r.url()).searchParams));
    await open();
    const teaser = part('teaser');
    await eventually(async () => assert.equal(await text(teaser), 'Vanaf € 2,00 met UiTPAS')); // the lower of € 2 and € 3
    assert.deepEqual(statics.map((q) => [q.get('eventId'), q.get('regularPrice')]).sort(), [[FESTIVITEIT, '10.00'], [LIMITED, '15.00']].sort());
    assert.equal(quotes.length, 0, 'no pass is asked about before a number is typed');
    await accessible('with its teaser');

    await enter('main', '0900000067513');
    assert.equal(await teaser.isVisible(), false);
    const detail = await lastQuote();
    assert.deepEqual(detail.tickets, [
      { eventId: FESTIVITEIT, uitpasNumber: '0900000067513', tariffId: GENT, regularPrice: 10, quantity: 1 },
      { eventId: LIMITED, uitpasNumber: '0900000067513', tariffId: GENT, regularPrice: 15, quantity: 1 },
    ]);
    assert.deepEqual([detail.total, detail.regularTotal, detail.discount], [5, 25, 20]);
    assert.equal(await text(part('total')), 'UiTPAS-korting: € 20,00');
  });

  it('a family cart: one number per ticket, the children\'s own passes, a number used twice refused', async () => {
    await open();
    await quantity(0, 3); // a parent and two children at the festiviteit
    assert.equal(quotes.length, 0);
    await enter('main', PARENT);
    // An individual pass buys one ticket of a line: the other two each get a field of their own.
    assert.deepEqual(quotes[0].postDataJSON().lines.map((l) => [l.eventId, l.quantity, l.uitpasNumber]), [
      [FESTIVITEIT, 1, PARENT],
      [LIMITED, 1, PARENT],
    ]);
    const label2 = 'UiTPAS-nummer voor ticket 2 van Permanente UiTPAS Test Festiviteit';
    const label3 = 'UiTPAS-nummer voor ticket 3 van Permanente UiTPAS Test Festiviteit';
    assert.equal(await uitpas().getByLabel(label2).isVisible(), true);
    assert.equal(await uitpas().getByLabel(label3).isVisible(), true);
    assert.equal(await text(page.locator('#line-0').getByTestId('line-total')), '€ 30,00 € 22,00'); // 2 + 10 + 10

    await enter('0:1', CHILD);
    assert.deepEqual(quotes.at(-1).postDataJSON().lines.map((l) => [l.eventId, l.quantity, l.uitpasNumber]), [
      [FESTIVITEIT, 1, PARENT],
      [FESTIVITEIT, 1, CHILD],
      [LIMITED, 1, PARENT],
    ]);
    assert.equal(await option('0:1', GENT).locator('input').isChecked(), true);
    assert.equal(await unit('0:1').locator('legend').textContent(), 'Tarief voor Permanente UiTPAS Test Festiviteit (ticket 2)');
    // The child's pass is shown under its own field, with its status.
    const ticket2 = part('ticket').filter({ has: page.locator('input[name="uitpas-0:1"]') });
    assert.equal(await ticket2.locator('[part~=pass]').getAttribute('data-status'), 'ACTIVE');

    // The parent's number again for the third ticket: one pass, one discounted ticket per event.
    await enter('0:2', PARENT);
    assert.equal(await unit('0:2').locator('[part~=tariffs]').count(), 0);
    assert.match(await text(unit('0:2').locator('[part~=line-problem]')), /heeft al een ticket voor deze activiteit/);
    await enter('0:2', '');
    assert.equal(await unit('0:2').count(), 0); // no number: the regular price

    const detail = await lastQuote();
    assert.deepEqual(
      detail.tickets.map((t) => [t.eventId, t.uitpasNumber, t.tariffId, t.quantity]),
      [[FESTIVITEIT, PARENT, GENT, 1], [FESTIVITEIT, CHILD, GENT, 1], [LIMITED, PARENT, GENT, 1]],
    );
    assert.equal(await text(page.locator('#line-0').getByTestId('line-total')), '€ 30,00 € 14,00'); // 2 + 2 + 10
    assert.equal(await text(page.getByTestId('cart-total')), '€ 17,00');

    // The shop registers what the element chose: held, paid, two passes at the festiviteit.
    const sent = page.waitForRequest((r) => pathOf(r) === '/demo/api/orders');
    await page.getByTestId('pay').click();
    assert.deepEqual((await sent).postDataJSON().tickets, detail.tickets);
    await page.getByTestId('pay-success').click();
    await eventually(async () => assert.equal(await page.getByTestId('order-message').getAttribute('data-status'), 'registered'));
    const id = await text(page.getByTestId('registration-id'));
    const { json } = await api('GET', `/demo/api/registrations/${id}`);
    assert.deepEqual(json.ticketSales.map((s) => s.uitpasNumber).sort(), [CHILD, PARENT, PARENT].sort());
  });

  it('a refused number: a mistyped one is refused on the page, a blocked card with UiTPAS\'s message', async () => {
    await open();
    await enter('main', '0900000067514', { quoted: false }); // the check digit is wrong
    const error = part('error').first();
    assert.equal(await text(error), 'Dit UiTPAS-nummer klopt niet. Controleer de 13 cijfers op je kaart.');
    assert.equal(await error.getAttribute('role'), 'alert');
    assert.equal(await field('main').getAttribute('aria-invalid'), 'true');
    assert.equal(await field('main').evaluate((input) => input === input.getRootNode().activeElement), true);
    assert.equal(quotes.length, 0, 'a mistyped number never leaves the page');
    assert.equal((await seen()).error.at(-1).type, 'invalid-uitpas-number');

    const blocked = '0900000002312';
    const expected = await api('POST', '/v1/quotes', { body: { uitpasNumber: blocked, lines: [{ eventId: FESTIVITEIT, regularPrice: 10 }] } });
    assert.ok(expected.status >= 400 && expected.status < 500, expected.raw);
    await enter('main', blocked);
    assert.equal(await text(error), expected.json.endUserMessage.nl);
    assert.equal(await field('main').getAttribute('aria-invalid'), 'true');
    assert.equal(await part('tariffs').count(), 0);
    const reported = (await seen()).error.at(-1);
    assert.equal(reported.type, expected.json.type);
    assert.equal(reported.status, expected.status);
    assert.deepEqual((await lastQuote()).tickets, []);
    await accessible('with a refused number');

    // A further ticket's mistyped number is refused on the page too.
    await enter('main', '0900000067513');
    // A new quantity is a new cart: the element quotes it again. Wait for that quote, so that it
    // is not counted as one for the mistyped number below.
    const requoted = page.waitForResponse((r) => pathOf(r) === '/v1/quotes' && r.status() !== 429, { timeout: 10_000 });
    await quantity(0, 2);
    await requoted;
    await eventually(async () => assert.equal(await field('0:1').isVisible(), true));
    await eventually(async () => assert.equal(await uitpas().locator('form').getAttribute('aria-busy'), 'false'));
    const before = quotes.length;
    await enter('0:1', '0900000067531', { quoted: false });
    assert.equal(await text(uitpas().locator('[data-k-error="0:1"]')), 'Dit UiTPAS-nummer klopt niet. Controleer de 13 cijfers op je kaart.');
    assert.equal(quotes.length, before);
  });

  it('a coupon that can be used once is offered on one line at a time, though the quote offers it on both', async () => {
    await open();
    // Paspartoe, with two single-use coupons (demo.test.js spends 0900000031618's only one).
    const number = '0900000093204';
    const answer = page.waitForResponse((r) => pathOf(r) === '/v1/quotes' && r.status() !== 429);
    await enter('main', number);
    const quoted = await (await answer).json();
    const onLine = (i) => quoted.lines[i].available.filter((t) => t.type === 'COUPON' && t.remaining === 1);
    const coupons = [0, 1].map((i) => onLine(i).find((t) => onLine(1 - i).some((o) => o.id === t.id)));
    assert.ok(coupons[0] && coupons[1], `the quote offers a coupon on both lines: ${JSON.stringify(quoted.lines)}`);
    const coupon = coupons[0].id;

    assert.equal(await option('0:0', coupon).locator('input').isChecked(), false); // never chosen for the buyer
    await option('0:0', coupon).locator('input').check();
    assert.equal(await option('1:0', coupon).locator('input').isDisabled(), true);
    assert.equal(await text(option('1:0', coupon).locator('[part~=tariff-extra]')), 'al gekozen voor een ander ticket');
    const withCoupon = (detail) => detail.tickets.filter((t) => t.tariffId === coupon).map((t) => t.eventId);
    let detail = await lastQuote();
    assert.deepEqual(withCoupon(detail), [FESTIVITEIT]);

    // Back to the regular price on the first line: the second line may take it.
    await option('0:0', '').locator('input').check();
    await option('1:0', coupon).locator('input').check();
    assert.equal(await option('0:0', coupon).locator('input').isDisabled(), true);
    detail = await lastQuote();
    assert.deepEqual(withCoupon(detail), [LIMITED]);
    assert.equal(detail.total, 10 + coupons[1].price);
    // The other coupon stays free to take on the first line.
    const other = onLine(0).find((t) => t.id !== coupon);
    if (other) {
      assert.equal(await option('0:0', other.id).locator('input').isDisabled(), false);
      await option('0:0', other.id).locator('input').check();
      assert.deepEqual((await lastQuote()).tickets.map((t) => t.tariffId), [other.id, coupon]);
    }
  });

  it('speaks French when the page does, and shows publiq\'s messages in the page\'s language', async () => {
    await open();
    await page.evaluate(() => {
      document.documentElement.lang = 'fr';
    });
    await eventually(async () => assert.equal(await text(part('teaser')), 'À partir de 2,00 € avec UiTPAS'));
    assert.equal(await uitpas().getByLabel(/^Numéro UiTPAS/).isVisible(), true);
    await enter('main', '0900000067510', { quoted: false });
    assert.equal(await text(part('error').first()), "Ce numéro UiTPAS n'est pas correct. Vérifiez les 13 chiffres sur votre carte.");

    const number = '0900000095902'; // no social tariff: UiTPAS says why
    const expected = await api('POST', '/v1/quotes', { body: { uitpasNumber: number, lines: [{ eventId: FESTIVITEIT, regularPrice: 10 }] } });
    const message = expected.json.lines[0].endUserMessage;
    assert.ok(message?.nl, expected.raw);
    await field('main').fill(number);
    const answer = page.waitForResponse((r) => pathOf(r) === '/v1/quotes' && r.status() !== 429);
    await uitpas().getByRole('button', { name: 'Vérifier' }).click();
    await answer;
    await eventually(async () => assert.match(await text(part('pass-status').first()), /^Tarif social : pas de droit au tarif social/));
    assert.equal(await text(unit('0:0').locator('[part~=line-message]')), message.fr || message.nl);
    // English, where publiq gives it.
    await page.evaluate(() => {
      document.documentElement.lang = 'en';
    });
    await eventually(async () => assert.equal(await text(unit('0:0').locator('[part~=line-message]')), message.en || message.nl));
    assert.equal(await uitpas().getByRole('button', { name: 'Check' }).isVisible(), true);
  });

  it('a shop on another origin loads it with the SRI hash of docs/element.md, and a wrong hash is refused', async () => {
    const doc = fs.readFileSync(require.resolve('../docs/element.md'), 'utf8');
    const src = /src="https:\/\/uitpas\.example(\/element\/[^"]+)"/.exec(doc)[1];
    const integrity = /integrity="(sha384-[^"]+)"/.exec(doc)[1];
    const shop = (hash) => `<!doctype html><html lang="nl"><head><title>Shop</title>
      <script type="module" src="${BASE_URL}${src}" integrity="${hash}" crossorigin="anonymous"></script></head>
      <body><main><uitpas-discount lines='[{"eventId": "${FESTIVITEIT}", "name": "Festiviteit", "regularPrice": 10}]'></uitpas-discount></main></body></html>`;
    let html = shop(integrity);
    // The shop: a server of its own on this machine (another port is another origin; a real server,
    // since Chromium lets only a page of a loopback address reach one).
    const server = http.createServer((_, response) => response.writeHead(200, { 'Content-Type': 'text/html' }).end(html));
    // e2e/run allows that origin (PUBLIC_ORIGINS): the element's calls too pass CORS then.
    const allowed = Number(process.env.SHOP_PORT || 0);
    await new Promise((resolve) => server.listen(allowed, '127.0.0.1', resolve));
    after(() => server.close());
    const shopUrl = `http://127.0.0.1:${server.address().port}/checkout`;
    assert.notEqual(new URL(shopUrl).origin, new URL(BASE_URL).origin);
    await page.goto(shopUrl);
    await part('intro').waitFor(); // the module passed its integrity check and the element is defined
    if (allowed) {
      await eventually(async () => assert.equal(await text(part('teaser')), 'Vanaf € 2,00 met UiTPAS'));
      await enter('main', '0900000067513');
      assert.equal(await text(option('0:0', GENT).locator('[part~=tariff-price]')), '€ 2,00');
    }

    html = shop(integrity.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')));
    const refused = [];
    page.on('console', (m) => m.type() === 'error' && refused.push(m.text()));
    await page.goto(shopUrl);
    await eventually(() => assert.ok(refused.some((m) => /integrity/i.test(m)), refused.join('\n')));
    assert.equal(await page.evaluate(() => Boolean(customElements.get('uitpas-discount'))), false);
  });

  it('works at 320 px wide, with the keyboard alone, without a violation of axe', async () => {
    await page.setViewportSize({ width: 320, height: 800 });
    await open();
    await quantity(0, 2);
    await field('main').focus();
    await page.keyboard.type('0900000067513');
    const answer = page.waitForResponse((r) => pathOf(r) === '/v1/quotes' && r.status() !== 429);
    await page.keyboard.press('Enter');
    await answer;
    await eventually(async () => assert.equal(await option('0:0', GENT).locator('input').isChecked(), true));
    // The keyboard reaches the tariffs and changes the choice with the arrow keys.
    await option('0:0', GENT).locator('input').focus();
    await page.keyboard.press('ArrowDown'); // the regular price
    await eventually(async () => assert.equal(await option('0:0', '').locator('input').isChecked(), true));
    assert.equal((await lastQuote()).tickets.length, 1);

    const widths = await page.evaluate(() => {
      const element = document.querySelector('uitpas-discount');
      const inner = [...element.shadowRoot.querySelectorAll('*')].filter((n) => n.getClientRects().length);
      return {
        page: document.documentElement.scrollWidth,
        element: element.getBoundingClientRect().right,
        widest: Math.max(...inner.map((n) => n.getBoundingClientRect().right)),
      };
    });
    assert.ok(widths.page <= 320, `the page is ${widths.page} px wide`);
    assert.ok(widths.element <= 320 && widths.widest <= 320, JSON.stringify(widths));
    await accessible('at 320 px with tariffs and a second ticket');
  });
});
