// The operator console (/console) in a real Chromium, against the service on its embedded sandbox.
// `bash e2e/console-run` builds and starts the service and runs this file; see README.md beside it.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { BASE_URL, launchBrowser, eventually, text, api } = require('./support');

const SHOP_API_KEY = process.env.SHOP_API_KEY || '';
const OPERATOR_KEY = process.env.OPERATOR_KEY || '';
const SANDBOX_URL = process.env.SANDBOX_URL || '';
const SCREENSHOTS = process.env.E2E_SCREENSHOTS || '';
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const FESTIVITEIT = '5a0967f9-cc06-4c3c-9206-30481a767434';
const GENT = 'kansentarief-regio-gent';
const PASS = '0900000067513';

let orderNo = 0;
async function register(status) {
  orderNo += 1;
  const orderId = `console-${Date.now()}-${orderNo}`;
  const answer = await api('POST', '/v1/registrations', {
    headers: { Authorization: `Bearer ${SHOP_API_KEY}`, 'Idempotency-Key': `key-${orderId}` },
    body: {
      orderId,
      tickets: [{ eventId: FESTIVITEIT, uitpasNumber: PASS, tariffId: GENT, regularPrice: 10, paidPrice: 2 }],
    },
  });
  assert.equal(answer.status, status, answer.raw);
  return { orderId, registration: answer.json };
}

async function fault(body) {
  const set = await api('PUT', `${SANDBOX_URL}/_sandbox/faults`, { body });
  assert.equal(set.status, 200, set.raw);
}

async function clearFaults() {
  await api('DELETE', `${SANDBOX_URL}/_sandbox/faults`);
}

describe('the operator console', { timeout: 110_000 }, () => {
  let browser;
  let page;

  before(async () => {
    assert.ok(OPERATOR_KEY && SHOP_API_KEY && SANDBOX_URL, 'OPERATOR_KEY, SHOP_API_KEY and SANDBOX_URL are set');
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.on('pageerror', (error) => assert.fail(`the page threw: ${error}`));
    // Two sales of the demo's event, as the demo shop makes them.
    await register(201);
    await register(201);
  });

  after(async () => {
    await clearFaults().catch(() => {});
    await browser?.close();
  });

  async function shoot(name) {
    if (SCREENSHOTS) await page.screenshot({ path: path.join(SCREENSHOTS, `console-${name}.png`), fullPage: true });
  }

  // No serious or critical accessibility violation (axe-core, WCAG 2 A/AA and best practices).
  async function accessible(what) {
    await page.evaluate(AXE);
    const results = await page.evaluate(() =>
      // eslint-disable-next-line no-undef
      axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } }),
    );
    const bad = results.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    assert.deepEqual(bad, [], `accessibility of ${what}`);
  }

  async function open(link) {
    await page.getByRole('navigation').getByRole('link', { name: link }).click();
    await page.waitForLoadState('domcontentloaded');
  }

  it('logs in with the operator key only, in Dutch first', async () => {
    await page.goto(`${BASE_URL}/console`);
    assert.match(page.url(), /\/console\/login$/);
    assert.equal(await page.locator('html').getAttribute('lang'), 'nl');
    await accessible('the login');
    await shoot('login');
    await page.getByLabel('Operatorsleutel').fill('not-the-operator-key');
    await page.getByRole('button', { name: 'Aanmelden' }).click();
    assert.match(await text(page.getByTestId('login-error')), /niet juist/);
    await page.getByLabel('Operatorsleutel').fill(OPERATOR_KEY);
    await page.getByRole('button', { name: 'Aanmelden' }).click();
    await page.waitForURL(/\/console\/work$/);
    assert.equal(await text(page.locator('h1')), 'Openstaand werk');
    const cookies = await browser.context.cookies();
    const session = cookies.find((c) => c.name === 'uc_console');
    assert.ok(session && session.httpOnly && session.sameSite === 'Strict', JSON.stringify(session));
  });

  it('shows every page, each accessible, and switches to English and back', async () => {
    const pages = [
      ['Openstaand werk', 'work'],
      ['Registraties', 'registrations'],
      ['Verkopen', 'sales'],
      ['Beloningen', 'rewards'],
      ['Evenementen', 'events'],
      ['Afstemming met UiTPAS', 'reconciliation'],
      ['Rechten bij UiTPAS', 'permissions'],
      // Last: the check below reads the webhooks page.
      ['Webhooks', 'webhooks'],
    ];
    for (const [link] of pages) {
      await open(link);
      assert.equal(await text(page.locator('h1')), link);
      await accessible(link);
    }
    assert.match(await text(page.getByTestId('webhooks-none')), /Nog geen webhooks/);
    // Reached from Beloningen, not the menu: the reconciliation of redemptions with UiTPAS.
    await open('Beloningen');
    await page.getByTestId('to-redemption-reconciliation').click();
    assert.equal(await text(page.locator('h1')), 'Omruilingen afstemmen met UiTPAS');
    await accessible('Omruilingen afstemmen met UiTPAS');
    await open('Verkopen');
    assert.ok((await page.locator('[data-testid=sales] tbody tr[data-status=registered]').count()) >= 2);
    assert.match(await text(page.locator('[data-testid=sales]')), /0900\*\*\*\*7513/);
    await page.getByLabel('Status').selectOption('registered');
    await page.getByRole('button', { name: 'Filteren' }).click();
    assert.match(page.url(), /status=registered/);
    await open('Evenementen');
    await page.locator(`[data-event="${FESTIVITEIT}"] a`).click();
    assert.ok(await page.getByTestId('sales-chart').isVisible());
    assert.match(await text(page.getByTestId('by-tariff')), /Kansentarief/);
    await accessible('the event');
    await page.getByTestId('lang-switch').click();
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    assert.match(await text(page.getByTestId('by-tariff')), /Social tariff/);
    await accessible('the event, in English');
    await page.getByTestId('lang-switch').click();
    assert.equal(await page.locator('html').getAttribute('lang'), 'nl');
  });

  it('shows a registration pending during an outage, and "retry now" registers it once UiTPAS is back', async () => {
    await fault({ operation: 'post-ticket-sales', mode: 'error', status: 503 });
    const { orderId } = await register(202);
    await open('Openstaand werk');
    const row = page.locator('[data-testid=work-pending] tr', { hasText: orderId });
    await row.waitFor();
    assert.match(await text(row), /503|upstream|UiTPAS/i);
    await shoot('work');
    await clearFaults();
    await row.getByTestId('retry').click();
    assert.match(await text(page.getByTestId('flash')), /opnieuw ingepland/);
    await eventually(
      async () => {
        await page.reload();
        assert.equal(await page.locator('[data-testid=work-pending] tr', { hasText: orderId }).count(), 0);
      },
      { timeout: 15_000, interval: 300 },
    );
    await open('Registraties');
    await page.getByLabel('Zoeken').fill(orderId);
    await page.getByRole('button', { name: 'Filteren' }).click();
    assert.equal(await page.locator('[data-testid=registrations] tbody tr').getAttribute('data-status'), 'registered');
  });

  it('retries and abandons work that needs attention', async () => {
    await fault({ operation: 'post-ticket-sales', mode: 'error', status: 403 });
    // UiTPAS refuses the service itself: 502 needs-attention, never a 2xx the shop could read as done.
    const retried = await register(502);
    const abandoned = await register(502);
    await clearFaults();
    await open('Openstaand werk');
    const attention = page.locator('[data-testid=work-attention]');
    assert.equal(await text(page.getByTestId('attention-count')), '2');
    await accessible('work that needs attention');
    await attention.locator('tr', { hasText: retried.orderId }).getByTestId('retry').click();
    assert.match(await text(page.getByTestId('flash')), /opnieuw ingepland/);
    // The reason, in Dutch, with what to do; publiq's English only under "Technisch".
    const row = attention.locator('tr', { hasText: abandoned.orderId });
    assert.match(await text(row.getByTestId('explanation')), /mag/);
    // Abandon asks first: what it does, and a way back that does nothing.
    await row.getByTestId('abandon').click();
    await page.waitForURL(/\/console\/work\/abandon\?/);
    assert.match(await text(page.getByTestId('confirm-help')), /kan niet ongedaan gemaakt worden/);
    await accessible('the confirmation of an abandon');
    await page.getByTestId('cancel-confirm').click();
    await page.waitForURL(/\/console\/work$/);
    assert.equal(await text(page.getByTestId('attention-count')), '1');
    await attention.locator('tr', { hasText: abandoned.orderId }).getByTestId('abandon').click();
    await page.getByTestId('confirm').click();
    assert.match(await text(page.getByTestId('flash')), /opgegeven/);
    const status = async (orderId) => {
      const found = await api('GET', `/v1/ticket-sales?orderId=${orderId}`, {
        headers: { Authorization: `Bearer ${SHOP_API_KEY}` },
      });
      return found.json.member[0].status;
    };
    await eventually(async () => assert.equal(await status(retried.orderId), 'registered'), { timeout: 15_000 });
    assert.equal(await status(abandoned.orderId), 'rejected');
    assert.equal(await text(page.getByTestId('attention-count')), '0');

    // The abandoned order's page: why, what to do, and its history with the operator's key hint.
    await open('Registraties');
    await page.getByLabel('Zoeken').fill(abandoned.orderId);
    await page.getByRole('button', { name: 'Filteren' }).click();
    await page.getByRole('link', { name: abandoned.orderId }).click();
    await page.waitForURL(/\/console\/registrations\/[0-9a-f-]+$/);
    assert.equal(await page.getByTestId('status').getAttribute('data-status'), 'rejected');
    assert.match(await text(page.getByTestId('explanation')), /mag/);
    assert.match(await text(page.getByTestId('what-to-do')), /publiq/);
    const history = page.getByTestId('history');
    // (Sent twice, maybe: a refusal of the service is tried once more with a fresh token.)
    for (const what of ['received', 'sent', 'parked', 'operator_abandon', 'rejected']) {
      assert.ok((await history.locator(`tr[data-what=${what}]`).count()) >= 1, what);
    }
    assert.match(await text(history.locator('tr[data-what=operator_abandon]')), /operator=sha256:[0-9a-f]{8}/);
    assert.match(await text(history), /CES?T/);
    await accessible('a registration');
    await shoot('registration');
    await page.getByTestId('lang-fr').click();
    assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
    assert.match(await text(page.getByTestId('explanation')), /autorisé/);
    await accessible('a registration, in French');
    await page.getByTestId('lang-switch').click();
    assert.equal(await page.locator('html').getAttribute('lang'), 'nl');
  });

  it('cancels a sale at UiTPAS (a refund) from its page, after a confirmation', async () => {
    const { orderId } = await register(201);
    await open('Verkopen');
    await page.getByLabel('Zoeken').fill(orderId);
    await page.getByRole('button', { name: 'Filteren' }).click();
    await page.locator('[data-testid=sales] tbody tr a').first().click();
    await page.waitForURL(/\/console\/sales\/[0-9a-f-]+$/);
    assert.match(await text(page.getByTestId('event')), /Permanente UiTPAS Test Festiviteit/);
    await accessible('a sale');
    await page.getByTestId('refund').click();
    assert.match(await text(page.getByTestId('confirm-help')), /kan niet ongedaan gemaakt worden/);
    await page.getByTestId('confirm').click();
    assert.match(await text(page.getByTestId('flash')), /geannuleerd bij UiTPAS/);
    assert.equal(await page.getByTestId('status').getAttribute('data-status'), 'cancelled');
    assert.equal(await page.getByTestId('refund').count(), 0);
    assert.equal(await page.getByTestId('history').locator('tr[data-what=operator_cancel]').count(), 1);
  });

  it('a reconciliation finds a sale cancelled at the box office, with a CSV export', async () => {
    const { registration } = await register(201);
    const uitpasId = registration.ticketSales[0].uitpasTicketSaleId;
    // The box office cancels it at UiTPAS directly, with a client of its own.
    const token = await api('POST', `${SANDBOX_URL}/oauth/token`, {
      body: { grant_type: 'client_credentials', client_id: 'box-office', client_secret: 'box-office' },
    });
    const cancelled = await api('DELETE', `${SANDBOX_URL}/ticket-sales/${uitpasId}`, {
      headers: { Authorization: `Bearer ${token.json.access_token}` },
    });
    assert.equal(cancelled.status, 204, cancelled.raw);

    await page.goto(`${BASE_URL}/console/events/${FESTIVITEIT}`);
    await shoot('event');
    await page.getByTestId('reconcile').click();
    await page.waitForURL(/\/console\/reconciliation\/[0-9a-f-]+$/);
    await eventually(
      async () => {
        if ((await page.getByTestId('run-status').getAttribute('data-status')) === 'running') await page.reload();
        assert.equal(await page.getByTestId('run-status').getAttribute('data-status'), 'complete');
      },
      { timeout: 15_000, interval: 300 },
    );
    assert.equal(await text(page.getByTestId('count-missing_at_uitpas')), '1');
    const missing = page.locator(`[data-testid=items] tr[data-kind=missing_at_uitpas][data-uitpas-id="${uitpasId}"]`);
    assert.equal(await missing.count(), 1);
    await accessible('a reconciliation report');
    await shoot('reconciliation');

    const csvUrl = await page.getByTestId('csv').getAttribute('href');
    const csv = await page.request.get(new URL(csvUrl, BASE_URL).toString());
    assert.equal(csv.status(), 200);
    assert.match(csv.headers()['content-type'], /^text\/csv/);
    assert.match(await csv.text(), new RegExp(`,missing_at_uitpas,[0-9a-f-]+,${uitpasId},`));

    await open('Afstemming met UiTPAS');
    assert.ok((await page.locator('[data-testid=reports] tbody tr[data-status=complete]').count()) >= 1);
    const metrics = await api('GET', '/metrics');
    assert.match(metrics.raw, /uitpas_checkout_reconciliation_discrepancies\{kind="missing_at_uitpas"\} 1/);
  });

  it('logs out', async () => {
    await page.getByTestId('logout').click();
    await page.waitForURL(/\/console\/login$/);
    await page.goto(`${BASE_URL}/console/work`);
    assert.match(page.url(), /\/console\/login$/);
  });
});
