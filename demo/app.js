// The demo shop's checkout. Plain JavaScript, no build step, nothing loaded from elsewhere.
//
// The buyer side of UiTPAS is the <uitpas-discount> element that this service serves to every
// shop (/element/v1/uitpas-discount.js, see docs/element.md): this page is its first user. The page
// keeps its own cart (names, quantities, totals) and its payment; it gives the element the cart's
// lines and a checkout token, and builds its order from the element's `uitpas-quote` event.
//
// Two shops, each a customer of the service with its own UiTPAS credentials and organizer: the
// default customer's, and Organisatie B's (?shop=b). The element calls the public API with a
// checkout token (ct_…) that the chosen shop's backend minted for its cart (POST
// /demo/api/checkout-token); the page calls that backend to pay and refund (/demo/api/...). The
// backend acts as its shop with the shop's secret; the page never holds a secret key.
//
// "Betalen" holds the discount at UiTPAS before payment (publiq's guide: only a registered sale
// guarantees the price); the payment step then confirms the hold (success), releases it
// (failure), or does nothing (walking away: the service releases it when it expires). The hold's
// length is the demo backend's (20 s) unless the page's address asks otherwise: ?hold=5.
//
// Only a hold UiTPAS accepted (status "held") lets the buyer pay the discounted price, as the
// integration guide says. While UiTPAS has not accepted it (202 "pending": UiTPAS unreachable; or
// 502 needs-attention) the page offers the regular price (the hold is released first) or waiting:
// it asks again every two seconds and shows the payment step once UiTPAS holds the discount.
'use strict';

// The shops and their carts: activities of the sandbox's dataset. The default customer sells
// publiq's two test events (its organizer is publiq's test organizer); Organisatie B, a second
// customer with credentials of its own, sells an event of another organizer (UiTPAS Regio Gent).
const SHOPS = {
  default: {
    name: 'Demo-webshop',
    about: 'de standaardklant van deze dienst, voor publiq\'s testorganisator (UiTPAS Regio Gent en Paspartoe)',
    cart: [
      { eventId: '5a0967f9-cc06-4c3c-9206-30481a767434', name: 'Permanente UiTPAS Test Festiviteit', regularPrice: 10 },
      { eventId: 'd83b5b8a-108a-45d6-9ac9-8bdc44a0a24a', name: 'Test event met beperkte aankoop', regularPrice: 15 },
    ],
  },
  b: {
    name: 'Organisatie B',
    about: 'een tweede klant, met eigen UiTPAS-toegang, voor een andere organisator (UiTPAS Regio Gent)',
    cart: [{ eventId: '373d6cee-b4ae-4637-9b7c-eeb79e45f044', name: 'Test event van Organisatie B', regularPrice: 12 }],
  },
};
// The shop the address asks for (?shop=b), else the default customer's.
const FIRST_SHOP = (() => {
  const asked = new URLSearchParams(location.search).get('shop');
  return Object.hasOwn(SHOPS, asked || '') ? asked : 'default';
})();

const SOCIAL_TARIFF = { ACTIVE: 'actief', EXPIRED: 'verlopen', NONE: 'geen recht op kansentarief' };
const REGISTRATION_STATUS = {
  pending: 'wordt geregistreerd',
  registered: 'geregistreerd',
  rejected: 'geweigerd door UiTPAS',
  held: 'vastgehouden',
  released: 'vrijgegeven',
  expired: 'vervallen',
};
// Seconds a hold lasts when the address asks for it (?hold=5), else the demo backend's default.
const HOLD_SECONDS = (() => {
  const asked = Number(new URLSearchParams(location.search).get('hold'));
  return Number.isInteger(asked) && asked >= 1 && asked <= 7200 ? asked : null;
})();
const SALE_STATUS = {
  pending: 'wordt geregistreerd',
  registered: 'geregistreerd',
  rejected: 'geweigerd',
  cancelling: 'wordt geannuleerd',
  cancelled: 'geannuleerd',
};
const newLines = (shop) => SHOPS[shop].cart.map((item) => ({ ...item, quantity: 1 }));

const state = {
  shop: FIRST_SHOP, // the key of SHOPS the buyer is buying at
  lines: newLines(FIRST_SHOP),
  quote: null, // the element's latest `uitpas-quote`: the chosen tariffs and the totals
  busy: false, // a payment is under way
  attempt: null, // { key, orderId, signature }: kept while the same order is retried
  registration: null, // the shop backend's last answer about the order
  unheld: null, // the id of a hold UiTPAS has not accepted: released when the buyer pays regular
  rewardAttempt: null, // { key, signature }: the reward's Idempotency-Key, kept while it is retried
};

const $ = (id) => document.getElementById(id);

// ---- small helpers ----------------------------------------------------------------------

function cents(euros) {
  return Math.round(Number(euros) * 100);
}

function euro(amountInCents) {
  const sign = amountInCents < 0 ? '-' : '';
  const abs = Math.abs(amountInCents);
  const whole = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, '.');
  return `€\u00a0${sign}${whole},${String(abs % 100).padStart(2, '0')}`;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value == null) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

function show(node, text, level) {
  node.textContent = text || '';
  node.hidden = !text;
  if (level !== undefined) node.dataset.level = level;
}

// A random key (crypto.getRandomValues works on plain http too, randomUUID does not).
function randomKey(bytes = 16) {
  const b = new Uint8Array(bytes);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// What to tell the buyer about an RFC 9457 problem: its endUserMessage, else its detail.
async function problemText(response) {
  let problem = null;
  try {
    problem = await response.json();
  } catch {
    // not JSON (a proxy's error page, say)
  }
  const text =
    problem?.endUserMessage?.nl || problem?.detail || problem?.title || `Er ging iets mis (HTTP ${response.status}).`;
  return { text, problem };
}

const OFFLINE = 'De webshop is niet bereikbaar. Controleer je verbinding en probeer opnieuw.';
// A hold UiTPAS has not accepted: never the discounted price.
const UNHELD =
  'UiTPAS heeft je korting nog niet vastgehouden: UiTPAS is even niet bereikbaar. Betaal de gewone prijs, of wacht: deze pagina kijkt elke twee seconden opnieuw.';

async function call(method, url, { body, headers = {} } = {}) {
  const init = { method, headers: { Accept: 'application/json, application/problem+json', ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  return fetch(url, init);
}

// An address of the demo shop's backend, for the shop the buyer is buying at.
function shopApi(path, shop = state.shop) {
  return shop === 'default' ? path : `${path}?shop=${encodeURIComponent(shop)}`;
}

// The shop backend could not give a checkout token: its problem, to show as it is.
class ShopUnavailable extends Error {}

// The checkout token of a shop's cart, minted by that shop's backend when the page first needs
// it, kept until a minute before it expires (30 minutes), and minted again after a 401.
const tokens = {};
function checkoutToken(shop = state.shop, { fresh = false } = {}) {
  const kept = tokens[shop];
  if (kept && !fresh && (kept.expiresAt === null || kept.expiresAt - Date.now() > 60_000)) return kept.promise;
  const entry = { expiresAt: null };
  entry.promise = (async () => {
    const response = await call('POST', shopApi('/demo/api/checkout-token', shop));
    if (response.status !== 201) throw new ShopUnavailable((await problemText(response)).text);
    const answer = await response.json();
    entry.expiresAt = Date.parse(answer.expiresAt);
    return answer.token;
  })();
  entry.promise.catch(() => {
    if (tokens[shop] === entry) delete tokens[shop]; // asked again next time
  });
  tokens[shop] = entry;
  return entry.promise;
}

// ---- the cart and the element ----------------------------------------------------------------

const uitpas = () => $('uitpas');

function buildCart() {
  const template = $('line-template');
  const cart = $('cart');
  cart.replaceChildren();
  state.lines.forEach((line, i) => {
    const node = template.content.firstElementChild.cloneNode(true);
    node.id = `line-${i}`;
    node.dataset.eventId = line.eventId;
    node.querySelector('[data-testid=line-name]').textContent = line.name;
    node.querySelector('[data-testid=line-regular-price]').textContent = euro(cents(line.regularPrice));
    const input = node.querySelector('.qty-input');
    input.id = `qty-${i}`;
    const label = node.querySelector('.qty-label');
    label.htmlFor = input.id;
    label.append(el('span', { class: 'visually-hidden', text: ` tickets ${line.name}` }));
    input.addEventListener('change', () => changeQuantity(i, input));
    cart.append(node);
  });
  state.quote = null;
  uitpas().lines = state.lines; // the element asks for the tariffs again when a pass is known
  renderTotals();
}

function changeQuantity(i, input) {
  const quantity = Math.min(100, Math.max(1, Math.floor(Number(input.value)) || 1));
  input.value = String(quantity);
  state.lines[i].quantity = quantity;
  state.quote = null;
  uitpas().lines = state.lines;
  renderTotals();
}

// The line's total: the element's (with the chosen tariffs) once it quoted this cart, else regular.
function lineTotal(line, i) {
  const quoted = state.quote?.lines[i];
  return quoted && quoted.quantity === line.quantity ? cents(quoted.total) : cents(line.regularPrice) * line.quantity;
}

function renderTotals() {
  let total = 0;
  state.lines.forEach((line, i) => {
    const amount = lineTotal(line, i);
    total += amount;
    const out = $(`line-${i}`)?.querySelector('[data-testid=line-total]');
    if (!out) return;
    out.replaceChildren();
    const regular = cents(line.regularPrice) * line.quantity;
    if (amount !== regular) out.append(el('s', { class: 'muted', text: euro(regular) }), ' ');
    out.append(el('strong', { text: euro(amount) }));
  });
  $('cart-total').textContent = euro(total);
  renderPayButton();
}

// ---- paying and refunding -----------------------------------------------------------------

function renderPayButton() {
  const done = state.registration && state.registration.status !== 'rejected';
  $('pay').disabled = state.busy || Boolean(done);
  // While a hold waits for payment, the payment step is the way on (walking away is one of its choices).
  const paying = state.registration?.hold?.state === 'held' && !state.walkedAway;
  $('new-order').hidden = !done || paying;
}

// The order's UiTPAS tickets: what the buyer chose in the element, as the shop API takes them.
function orderTickets() {
  return state.quote ? state.quote.tickets : [];
}

function eventName(eventId) {
  for (const shop of Object.values(SHOPS)) {
    const item = shop.cart.find((c) => c.eventId === eventId);
    if (item) return item.name;
  }
  return eventId;
}

async function pay({ regular = false } = {}) {
  state.unheld = null;
  const message = $('order-message');
  $('order').hidden = false;
  const tickets = regular ? [] : orderTickets();
  if (tickets.length === 0) {
    state.registration = null;
    renderRegistration();
    show(
      message,
      `Betaald (demo): ${$('cart-total').textContent}. Je koos geen UiTPAS-korting, dus er wordt niets bij UiTPAS geregistreerd.`,
      'info',
    );
    if (!regular) await redeemReward(`demo-${Date.now().toString(36)}-${randomKey(4)}`);
    return;
  }
  // One Idempotency-Key per order: made when the order is first sent, reused when the same order
  // is sent again (a retry after a lost answer must not register twice). A changed order is a new one.
  const signature = JSON.stringify(tickets);
  if (!state.attempt || state.attempt.signature !== signature) {
    state.attempt = { key: randomKey(), orderId: `demo-${Date.now().toString(36)}-${randomKey(4)}`, signature };
  }
  state.busy = true;
  renderPayButton();
  show(message, 'Je UiTPAS-korting wordt vastgehouden…', 'info');
  $('pay-regular').hidden = true;
  const shop = state.shop;
  try {
    const response = await call('POST', shopApi('/demo/api/orders'), {
      headers: { 'Idempotency-Key': state.attempt.key },
      body: { orderId: state.attempt.orderId, tickets, hold: HOLD_SECONDS ? { expiresIn: HOLD_SECONDS } : {} },
    });
    if (shop !== state.shop) return; // the buyer went to another shop meanwhile
    if (response.status === 201 || response.status === 202) {
      state.walkedAway = false;
      state.registration = await response.json();
      renderRegistration();
    } else {
      const { text, problem } = await problemText(response);
      const at = /^\/tickets\/(\d+)/.exec(problem?.jsonPointer || '');
      const which = at && tickets[Number(at[1])] ? ` (${eventName(tickets[Number(at[1])].eventId)})` : '';
      state.registration = null;
      renderRegistration();
      // UiTPAS refused the discount before payment: say why (its endUserMessage), and let the
      // buyer pay the regular price instead.
      show(message, `Geen UiTPAS-korting${which}: ${text}`, 'error');
      $('pay-regular').hidden = response.status >= 500 || response.status === 429;
      // A hold that needs a person (502 needs-attention) is stored but not accepted by UiTPAS:
      // never the discount; the regular price (releasing that hold first) or waiting.
      if (problem?.type === 'urn:uitpas-checkout:problem:needs-attention' && problem.registrationId) {
        state.unheld = problem.registrationId;
        show(message, `${UNHELD} (${text})`, 'warn');
        $('pay-regular').hidden = false;
      }
      // A refusal is a final answer to this key: trying again (once the cause is gone) is a new
      // order. Only a lost answer, a rate limit or a server error is retried with the same key.
      if (response.status >= 400 && response.status < 500 && response.status !== 429) state.attempt = null;
    }
  } catch {
    if (shop === state.shop) show(message, `${OFFLINE} Je bestelling wordt niet dubbel geregistreerd.`, 'error');
  } finally {
    state.busy = false;
    renderPayButton();
  }
}

// The reward the buyer picked in the element (the pass had enough points): the shop backend
// redeems it once the order is paid, through the shop API (POST /v1/reward-redemptions), with one
// Idempotency-Key per order and reward, kept for a retry after a lost answer.
async function redeemReward(orderId) {
  const reward = state.quote?.reward;
  const node = $('reward-result');
  delete node.dataset.status;
  if (!reward) return show(node, '');
  const signature = `${orderId}|${reward.id}|${reward.uitpasNumber}`;
  if (state.rewardAttempt?.signature !== signature) state.rewardAttempt = { key: randomKey(), signature };
  show(node, `${reward.title} wordt omgeruild…`, 'info');
  const shop = state.shop;
  try {
    const response = await call('POST', shopApi('/demo/api/reward-redemptions'), {
      headers: { 'Idempotency-Key': state.rewardAttempt.key },
      body: { rewardId: reward.id, uitpasNumber: reward.uitpasNumber, orderId },
    });
    if (shop !== state.shop) return;
    if (response.status === 201 || response.status === 202) {
      const redemption = await response.json();
      node.dataset.status = redemption.status;
      const code = redemption.redeemCode ? ` Je code: ${redemption.redeemCode}.` : '';
      if (redemption.status === 'redeemed') {
        show(node, `Voordeel omgeruild: ${redemption.rewardTitle || reward.title} (${redemption.points ?? reward.points} punten).${code}`, 'success');
      } else {
        show(node, `${reward.title}: UiTPAS is even niet bereikbaar, je voordeel wordt omgeruild zodra UiTPAS weer antwoordt.`, 'warn');
      }
    } else {
      const { text } = await problemText(response);
      node.dataset.status = 'rejected';
      show(node, `Voordeel niet omgeruild: ${text}`, 'error');
      if (response.status >= 400 && response.status < 500 && response.status !== 429) state.rewardAttempt = null;
    }
  } catch {
    show(node, OFFLINE, 'error');
  }
}

function renderRegistration() {
  const registration = state.registration;
  if (!registration || registration.hold?.state !== 'held') stopCountdown();
  $('payment').hidden = true;
  const table = $('ticket-sales');
  const body = table.querySelector('tbody');
  body.replaceChildren();
  table.hidden = !registration;
  $('refresh').hidden = true;
  show($('order-meta'), '');
  delete $('order-message').dataset.status;
  if (!registration) return;

  $('order-meta').replaceChildren(
    `Bestelling ${registration.orderId} · registratie `,
    el('code', { 'data-testid': 'registration-id', text: registration.id }),
  );
  $('order-meta').hidden = false;
  const message = $('order-message');
  message.dataset.status = registration.status;
  // Only a hold UiTPAS accepted goes to payment at the discounted price.
  const held = registration.status === 'held';
  // Stored, but not (yet) accepted by UiTPAS: the regular price, or waiting.
  const unheld = registration.hold?.state === 'held' && registration.status === 'pending';
  state.unheld = unheld ? registration.id : null;
  $('payment').hidden = !held || state.walkedAway;
  $('pay-regular').hidden = !unheld;
  if (held) {
    startCountdown(registration.hold.expiresAt);
    if (state.walkedAway) {
      show(message, 'Je liet de betaling liggen. Je UiTPAS-korting wordt vrijgegeven als de tijd om is.', 'warn');
    } else {
      show(message, 'Je UiTPAS-korting is vastgehouden bij UiTPAS. Betaal nu om ze te behouden.', 'info');
    }
  } else if (unheld) {
    show(message, UNHELD, 'warn');
  } else if (registration.status === 'released') {
    show(message, 'De betaling is mislukt: je UiTPAS-korting is vrijgegeven bij UiTPAS. Er werd niets aangerekend.', 'warn');
  } else if (registration.status === 'expired') {
    show(message, 'Je betaalde niet op tijd: je UiTPAS-korting is vervallen en vrijgegeven bij UiTPAS. Plaats een nieuwe bestelling.', 'warn');
  } else if (registration.status === 'registered') {
    show(message, 'Betaald. Je UiTPAS-korting is bij UiTPAS geregistreerd.', 'success');
  } else if (registration.status === 'pending') {
    show(
      message,
      'Betaald. UiTPAS is even niet bereikbaar: je korting wordt geregistreerd zodra UiTPAS weer antwoordt.',
      'warn',
    );
  } else {
    show(message, `Je bestelling werd ${REGISTRATION_STATUS[registration.status] || registration.status}.`, 'error');
  }

  for (const sale of registration.ticketSales) {
    const cancel = el('button', {
      type: 'button',
      class: 'secondary small',
      'data-testid': 'cancel-sale',
      'aria-label': `Annuleer ticket ${eventName(sale.eventId)}`,
      text: 'Annuleren',
    });
    cancel.hidden = sale.status !== 'registered' || registration.status !== 'registered';
    cancel.addEventListener('click', () => cancelSale(sale.id, cancel));
    const tariff = sale.tariff.name
      ? `${sale.tariff.name}${sale.tariff.price != null ? ` · ${euro(cents(sale.tariff.price))}` : ''}`
      : sale.tariff.id;
    body.append(
      el(
        'tr',
        { 'data-testid': 'ticket-sale', 'data-sale-id': sale.id, 'data-status': sale.status },
        el('td', { text: eventName(sale.eventId) }),
        el('td', { text: tariff }),
        el('td', {}, el('span', { class: `badge ${sale.status}`, 'data-testid': 'sale-status', text: SALE_STATUS[sale.status] || sale.status })),
        el('td', {}, el('code', { 'data-testid': 'sale-uitpas-id', text: sale.uitpasTicketSaleId || '—' })),
        el('td', {}, cancel),
      ),
    );
  }
  const unsettled =
    (registration.status === 'pending' && !unheld) ||
    (held && state.walkedAway) ||
    registration.ticketSales.some((s) => s.status === 'pending' || s.status === 'cancelling');
  $('refresh').hidden = !unsettled;
  renderPayButton();
  // A hold that ended has its sales cancelled by the service's worker right after it says so:
  // keep asking until they are, so that the page never shows an ended hold's sale as registered.
  clearTimeout(state.settling);
  const ending =
    (registration.status === 'expired' || registration.status === 'released') &&
    registration.ticketSales.some((s) => s.status === 'registered' || s.status === 'cancelling');
  if (ending) state.settling = setTimeout(refresh, 500);
  // Waiting for UiTPAS to accept the hold: ask again until it does (or the buyer pays regular).
  clearTimeout(state.waiting);
  if (unheld) state.waiting = setTimeout(refresh, 2000);
}

async function refresh() {
  if (!state.registration) return;
  const button = $('refresh');
  button.disabled = true;
  const shop = state.shop;
  try {
    const response = await call('GET', shopApi(`/demo/api/registrations/${encodeURIComponent(state.registration.id)}`));
    if (shop !== state.shop) return;
    if (response.ok) {
      state.registration = await response.json();
      renderRegistration();
    } else {
      show($('order-message'), (await problemText(response)).text, 'error');
    }
  } catch {
    show($('order-message'), OFFLINE, 'error');
  } finally {
    button.disabled = false;
  }
}

async function cancelSale(id, button) {
  const message = $('order-message');
  button.disabled = true;
  try {
    const shop = state.shop;
    const response = await call('DELETE', shopApi(`/demo/api/ticket-sales/${encodeURIComponent(id)}`));
    if (shop !== state.shop) return;
    const sale = state.registration.ticketSales.find((s) => s.id === id);
    if (response.status === 204) {
      sale.status = 'cancelled';
      renderRegistration();
      show(message, `Ticket voor ${eventName(sale.eventId)} geannuleerd bij UiTPAS.`, 'success');
    } else if (response.status === 202) {
      Object.assign(sale, await response.json());
      renderRegistration();
      show(message, `De annulering van ${eventName(sale.eventId)} is bewaard en wordt bij UiTPAS verwerkt zodra UiTPAS antwoordt.`, 'warn');
    } else {
      show(message, `Niet geannuleerd: ${(await problemText(response)).text}`, 'error');
      button.disabled = false;
    }
  } catch {
    show(message, OFFLINE, 'error');
    button.disabled = false;
  }
}

// ---- the payment step of a hold ---------------------------------------------------------------

function stopCountdown() {
  clearInterval(state.countdown);
  state.countdown = null;
}

// Counts down to the hold's expiresAt; once it passes, asks the shop backend until the service's
// worker has released the hold (status expired).
function startCountdown(expiresAt) {
  const end = Date.parse(expiresAt);
  const tick = () => {
    const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
    $('hold-countdown').textContent = `${left} s`;
    $('hold-countdown').dataset.seconds = String(left);
    if (left === 0 && !state.polling) {
      state.polling = true;
      refresh().finally(() => {
        state.polling = false;
      });
    }
  };
  if (state.countdown && state.countdownEnd === end) return;
  stopCountdown();
  state.countdownEnd = end;
  tick();
  state.countdown = setInterval(tick, 500);
}

async function settleHold(action) {
  const registration = state.registration;
  if (!registration) return;
  const message = $('order-message');
  for (const id of ['pay-success', 'pay-failure', 'pay-walk-away']) $(id).disabled = true;
  const shop = state.shop;
  try {
    const response = await call('POST', shopApi(`/demo/api/orders/${encodeURIComponent(registration.id)}/${action}`));
    if (shop !== state.shop) return;
    if (response.ok) {
      state.registration = await response.json();
      renderRegistration();
      // Paid: the reward the buyer picked is redeemed now.
      if (action === 'confirm') await redeemReward(state.registration.orderId);
    } else {
      const { problem, text } = await problemText(response);
      if (problem?.type?.endsWith(':hold-expired') || problem?.type?.endsWith(':hold-released')) {
        // Too late: the hold ended and its sales are cancelled. Show where it stands.
        await refresh();
        show(message, 'Te laat: je UiTPAS-korting is intussen vervallen. Er werd niets aangerekend; plaats een nieuwe bestelling.', 'error');
      } else {
        show(message, text, 'error');
      }
    }
  } catch {
    show(message, OFFLINE, 'error');
  } finally {
    for (const id of ['pay-success', 'pay-failure', 'pay-walk-away']) $(id).disabled = false;
  }
}

// The buyer closes the payment page: nothing is sent. The service releases the hold when it expires.
function walkAway() {
  state.walkedAway = true;
  renderRegistration();
}

// After a refusal, or instead of waiting for UiTPAS to accept the hold: every line at its regular
// price, nothing to register at UiTPAS. A hold UiTPAS has not accepted is released first, so that
// it never becomes a discount nobody paid for.
async function payRegular() {
  const unheld = state.unheld;
  $('pay-regular').hidden = true;
  if (unheld) {
    clearTimeout(state.waiting);
    const shop = state.shop;
    try {
      const response = await call('POST', shopApi(`/demo/api/orders/${encodeURIComponent(unheld)}/release`));
      if (shop !== state.shop) return;
      if (!response.ok) {
        const { problem, text } = await problemText(response);
        if (problem?.type?.endsWith(':hold-confirmed')) {
          // UiTPAS accepted it meanwhile and it was confirmed: nothing to release.
          await refresh();
          return;
        }
        show($('order-message'), text, 'error');
        $('pay-regular').hidden = false;
        return;
      }
    } catch {
      show($('order-message'), OFFLINE, 'error');
      $('pay-regular').hidden = false;
      return;
    }
    state.unheld = null;
    state.attempt = null; // the released hold's key is spent: a new order gets a new one
  }
  uitpas().reset();
  pay({ regular: true });
}

// The buyer goes to another shop: its own cart, its own checkout token; nothing of the last
// shop's order carries over (the number typed stays, to try it at this shop).
function switchShop(shop) {
  if (!Object.hasOwn(SHOPS, shop) || shop === state.shop) return;
  state.shop = shop;
  const address = new URL(location.href);
  if (shop === 'default') address.searchParams.delete('shop');
  else address.searchParams.set('shop', shop);
  history.replaceState(null, '', address);
  state.lines = newLines(shop);
  state.attempt = null;
  state.rewardAttempt = null;
  show($('reward-result'), '');
  state.unheld = null;
  state.walkedAway = false;
  state.registration = null;
  buildCart();
  uitpas().reset(); // the last shop's numbers and tariffs do not carry over
  renderRegistration();
  show($('order-message'), '');
  $('pay-regular').hidden = true;
  $('order').hidden = true;
  renderShop();
}

function renderShop() {
  const shop = SHOPS[state.shop];
  for (const input of document.querySelectorAll('input[name=shop]')) input.checked = input.value === state.shop;
  $('shop-name').textContent = shop.name;
  $('shop-about').textContent = shop.about;
  document.body.dataset.shop = state.shop;
}

function newOrder() {
  state.attempt = null;
  state.rewardAttempt = null;
  show($('reward-result'), '');
  state.unheld = null;
  state.walkedAway = false;
  $('pay-regular').hidden = true;
  state.registration = null;
  renderRegistration();
  show($('order-message'), '');
  $('order').hidden = true;
  renderPayButton();
  uitpas().refresh(); // what remains of a pass's tariffs changed with the sale
}

// ---- wiring ---------------------------------------------------------------------------------

// The element asks the shop's backend for the checkout token of the current shop's cart.
uitpas().tokenProvider = ({ fresh } = {}) => checkoutToken(state.shop, { fresh });
uitpas().addEventListener('uitpas-quote', (event) => {
  state.quote = event.detail;
  renderTotals();
});
buildCart();
renderShop();
$('shop-picker').addEventListener('change', (event) => {
  if (event.target.name === 'shop') switchShop(event.target.value);
});
$('pay').addEventListener('click', () => pay());
$('refresh').addEventListener('click', refresh);
$('new-order').addEventListener('click', newOrder);
$('pay-success').addEventListener('click', () => settleHold('confirm'));
$('pay-failure').addEventListener('click', () => settleHold('release'));
$('pay-walk-away').addEventListener('click', walkAway);
$('pay-regular').addEventListener('click', payRegular);
