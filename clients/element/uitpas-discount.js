// <uitpas-discount>: the buyer's side of an UiTPAS discount, for any checkout. No dependency, no build.
// The shop gives it a publishable key or a checkout token and the cart's lines; it shows the
// "from € 2 with UiTPAS" teaser, asks the UiTPAS numbers (one per ticket where publiq needs one),
// checks them locally (13 digits, Luhn) before asking the service, shows the pass's messages and
// UiTPAS's endUserMessage, offers the tariffs per line (a tariff's `remaining` counted across lines)
// and tells the page what was chosen (`uitpas-quote`) or what went wrong (`uitpas-error`). The shop's
// backend registers the sale (hold, confirm) with its secret key. See README.md beside this file.

const TEXT = {
  nl: {
    points: 'Punten omruilen',
    balance: 'Je hebt {b} UiTPAS-punten.',
    reward: '{title}: {p} punten',
    noReward: 'Geen voordeel',
    colon: ': ',
    twice: 'Dit UiTPAS-nummer heeft al een ticket voor deze activiteit: één UiTPAS, één ticket met korting.',
    intro: 'Heb je een UiTPAS met kansentarief? Vul je nummer in en betaal minder.',
    teaser: 'Vanaf {p} met UiTPAS',
    number: 'UiTPAS-nummer',
    digits: '13 cijfers',
    check: 'Controleer',
    ticket: 'UiTPAS-nummer voor ticket {n} van {name}',
    perTicket: 'Elk ticket met kansentarief vraagt een eigen UiTPAS: vul er een in per ticket, of laat leeg voor de gewone prijs.',
    empty: 'Vul je UiTPAS-nummer in.',
    invalid: 'Dit UiTPAS-nummer klopt niet. Controleer de 13 cijfers op je kaart.',
    social: 'Kansentarief',
    ACTIVE: 'actief',
    EXPIRED: 'verlopen',
    NONE: 'geen recht op kansentarief',
    group: 'groepspas',
    tariff: 'Tarief voor {name}',
    ticketN: 'ticket {n}',
    regular: 'Gewone prijs, geen korting',
    coupon: 'bon',
    usedUp: 'opgebruikt',
    elsewhere: 'al gekozen voor een ander ticket',
    left: 'nog {n} beschikbaar',
    fewer: 'Met {t} kan je nog maar {n} ticket(s) kopen, niet {q}. Verlaag het aantal of kies de gewone prijs.',
    each: ' per ticket, samen {t}',
    busy: 'UiTPAS wordt gecontroleerd…',
    discount: 'UiTPAS-korting: {t}',
    offline: 'UiTPAS is niet bereikbaar. Controleer je verbinding en probeer opnieuw.',
    failed: 'Er ging iets mis (HTTP {s}). Probeer opnieuw.',
  },
  fr: {
    points: 'Échanger des points',
    balance: 'Vous avez {b} points UiTPAS.',
    reward: '{title} : {p} points',
    noReward: 'Pas d’avantage',
    colon: ' : ',
    twice: 'Ce numéro UiTPAS a déjà un billet pour cette activité : une UiTPAS, un billet à prix réduit.',
    intro: 'Vous avez une UiTPAS avec tarif social ? Entrez votre numéro et payez moins.',
    teaser: 'À partir de {p} avec UiTPAS',
    number: 'Numéro UiTPAS',
    digits: '13 chiffres',
    check: 'Vérifier',
    ticket: 'Numéro UiTPAS pour le billet {n} de {name}',
    perTicket: 'Chaque billet au tarif social demande sa propre UiTPAS : entrez-en une par billet, ou laissez vide pour le prix normal.',
    empty: 'Entrez votre numéro UiTPAS.',
    invalid: "Ce numéro UiTPAS n'est pas correct. Vérifiez les 13 chiffres sur votre carte.",
    social: 'Tarif social',
    ACTIVE: 'actif',
    EXPIRED: 'expiré',
    NONE: 'pas de droit au tarif social',
    group: 'pass de groupe',
    tariff: 'Tarif pour {name}',
    ticketN: 'billet {n}',
    regular: 'Prix normal, sans réduction',
    coupon: 'bon',
    usedUp: 'épuisé',
    elsewhere: 'déjà choisi pour un autre billet',
    left: 'encore {n} disponible(s)',
    fewer: 'Avec {t} vous ne pouvez plus acheter que {n} billet(s), pas {q}. Réduisez le nombre ou choisissez le prix normal.',
    each: ' par billet, total {t}',
    busy: 'Vérification UiTPAS…',
    discount: 'Réduction UiTPAS : {t}',
    offline: "UiTPAS n'est pas joignable. Vérifiez votre connexion et réessayez.",
    failed: "Une erreur s'est produite (HTTP {s}). Réessayez.",
  },
  en: {
    points: 'Spend points',
    balance: 'You have {b} UiTPAS points.',
    reward: '{title}: {p} points',
    noReward: 'No reward',
    colon: ': ',
    twice: 'This UiTPAS number already has a ticket for this activity: one UiTPAS, one discounted ticket.',
    intro: 'Do you have an UiTPAS with a reduced tariff? Enter your number and pay less.',
    teaser: 'From {p} with UiTPAS',
    number: 'UiTPAS number',
    digits: '13 digits',
    check: 'Check',
    ticket: 'UiTPAS number for ticket {n} of {name}',
    perTicket: 'Each ticket at the reduced tariff needs its own UiTPAS: enter one per ticket, or leave it empty for the regular price.',
    empty: 'Enter your UiTPAS number.',
    invalid: 'This UiTPAS number is not right. Check the 13 digits on your card.',
    social: 'Reduced tariff',
    ACTIVE: 'active',
    EXPIRED: 'expired',
    NONE: 'no right to the reduced tariff',
    group: 'group pass',
    tariff: 'Tariff for {name}',
    ticketN: 'ticket {n}',
    regular: 'Regular price, no discount',
    coupon: 'coupon',
    usedUp: 'used up',
    elsewhere: 'already chosen for another ticket',
    left: '{n} left',
    fewer: 'With {t} you can buy only {n} more ticket(s), not {q}. Lower the number or choose the regular price.',
    each: ' per ticket, {t} in all',
    busy: 'Checking UiTPAS…',
    discount: 'UiTPAS discount: {t}',
    offline: 'UiTPAS cannot be reached. Check your connection and try again.',
    failed: 'Something went wrong (HTTP {s}). Try again.',
  },
  de: {
    points: 'Punkte einlösen',
    balance: 'Sie haben {b} UiTPAS-Punkte.',
    reward: '{title}: {p} Punkte',
    noReward: 'Kein Vorteil',
    colon: ': ',
    twice: 'Diese UiTPAS-Nummer hat bereits ein Ticket für diese Aktivität: ein UiTPAS, ein ermäßigtes Ticket.',
    intro: 'Haben Sie einen UiTPAS mit Sozialtarif? Geben Sie Ihre Nummer ein und zahlen Sie weniger.',
    teaser: 'Ab {p} mit UiTPAS',
    number: 'UiTPAS-Nummer',
    digits: '13 Ziffern',
    check: 'Prüfen',
    ticket: 'UiTPAS-Nummer für Ticket {n} von {name}',
    perTicket: 'Jedes Ticket zum Sozialtarif braucht einen eigenen UiTPAS: eine Nummer pro Ticket, oder leer lassen für den normalen Preis.',
    empty: 'Geben Sie Ihre UiTPAS-Nummer ein.',
    invalid: 'Diese UiTPAS-Nummer stimmt nicht. Prüfen Sie die 13 Ziffern auf Ihrer Karte.',
    social: 'Sozialtarif',
    ACTIVE: 'aktiv',
    EXPIRED: 'abgelaufen',
    NONE: 'kein Recht auf Sozialtarif',
    group: 'Gruppenpass',
    tariff: 'Tarif für {name}',
    ticketN: 'Ticket {n}',
    regular: 'Normaler Preis, keine Ermäßigung',
    coupon: 'Gutschein',
    usedUp: 'aufgebraucht',
    elsewhere: 'bereits für ein anderes Ticket gewählt',
    left: 'noch {n} verfügbar',
    fewer: 'Mit {t} können Sie nur noch {n} Ticket(s) kaufen, nicht {q}. Verringern Sie die Anzahl oder wählen Sie den normalen Preis.',
    each: ' pro Ticket, zusammen {t}',
    busy: 'UiTPAS wird geprüft…',
    discount: 'UiTPAS-Ermäßigung: {t}',
    offline: 'UiTPAS ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.',
    failed: 'Etwas ist schiefgegangen (HTTP {s}). Versuchen Sie es erneut.',
  },
};

const CSS = `
:host{display:block;font:var(--uitpas-font,inherit);color:var(--uitpas-color,inherit);--a:var(--uitpas-accent,#a3004a);--r:var(--uitpas-radius,6px);--g:var(--uitpas-gap,.75rem)}
:host([hidden]){display:none}
*{box-sizing:border-box}
p,ul,ol,fieldset{margin:0;padding:0}
.root{display:grid;gap:var(--g);min-width:0}
[part~=status]:not(:empty){margin-top:var(--g)}
.teaser{font-weight:600;color:var(--uitpas-teaser-color,var(--a))}
label{font-weight:600}
.hint{font-weight:400;color:var(--uitpas-muted,#555)}
.field{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:.25rem}
input[type=text]{flex:1 1 10rem;min-width:0;font:inherit;padding:.5rem .6rem;border:1px solid var(--uitpas-border,#767676);border-radius:var(--r);background:var(--uitpas-input-bg,#fff);color:inherit}
input[aria-invalid=true]{border-color:var(--uitpas-error,#b00020)}
button{font:inherit;font-weight:600;padding:.5rem 1rem;border:0;border-radius:var(--r);background:var(--a);color:var(--uitpas-accent-text,#fff);cursor:pointer}
button:disabled{opacity:.6;cursor:default}
:focus-visible{outline:3px solid var(--uitpas-focus,#1a5fb4);outline-offset:2px}
.msg{padding:.4rem .6rem;border-radius:var(--r);border-left:4px solid var(--uitpas-info,#1a5fb4);background:var(--uitpas-message-bg,#f3f6fa)}
.msg[data-level=WARN],.warn{border-left-color:var(--uitpas-warn,#8a5a00)}
.msg[data-level=ERROR],.error{border-left-color:var(--uitpas-error,#b00020)}
.error{color:var(--uitpas-error,#b00020)}
.msgs{list-style:none;display:grid;gap:.25rem;margin-top:.4rem}
.lines{list-style:none;display:grid;gap:var(--g)}
.line{display:grid;gap:.4rem}
.name{font-weight:600}
fieldset{border:1px solid var(--uitpas-border,#767676);border-radius:var(--r);padding:.4rem .6rem;min-width:0}
legend{font-weight:600;padding:0 .25rem}
.tariff{display:flex;flex-wrap:wrap;align-items:baseline;gap:.25rem .5rem;padding:.25rem 0;font-weight:400}
.tariff[data-disabled]{color:var(--uitpas-muted,#555)}
.price{margin-left:auto;font-variant-numeric:tabular-nums}
.extra{font-size:.9em;color:var(--uitpas-muted,#555)}
.total{font-weight:600}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
[hidden]{display:none!important}
`;

const LANGS = ['nl', 'fr', 'en', 'de'];
const REGULAR = '';
const BASE = (() => {
  try {
    return new URL('/', import.meta.url).href.slice(0, -1);
  } catch {
    return '';
  }
})();

/** True for 13 digits whose last is the Luhn check digit of the others. */
export function validUitpasNumber(number) {
  if (!/^\d{13}$/.test(number)) return false;
  let sum = 0;
  for (let i = 0; i < 13; i++) {
    let d = number.charCodeAt(12 - i) - 48;
    if (i % 2) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

const cents = (euros) => Math.round(Number(euros) * 100);
const clean = (value) => String(value || '').replace(/[\s.\-/]/g, '');

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.filter((c) => c != null && c !== false));
  return node;
}

// (HTMLElement is missing outside a browser: there the module still gives validUitpasNumber.)
export class UitpasDiscount extends (globalThis.HTMLElement || class {}) {
  static observedAttributes = ['lines', 'publishable-key', 'checkout-token', 'api', 'rewards'];

  constructor() {
    super();
    this.attachShadow({ mode: 'open' });
    this._lines = [];
    this._numbers = new Map(); // 'main' (the buyer's) or `${line}:${ticket}` -> the number checked
    this._drafts = new Map(); // the same keys -> what is typed in the field now
    this._passes = new Map(); // UiTPAS number -> {passType, socialTariff, messages}
    this._units = []; // what was quoted: {key, line, number, quantity, available, endUserMessage, problem}
    this._choice = new Map(); // unit key -> tariff id ('' for the regular price)
    this._rewards = null; // with the `rewards` attribute: the quote's rewards of the buyer's pass
    this._reward = ''; // the reward id the buyer picked ('' for none)
    this._static = new Map(); // `${eventId}|${price}` -> lowest social price in cents, or null
    this._seq = 0;
    this._error = null; // {message, key?}
    this._busy = false;
    this._tokenProvider = null;
    this._id = `u${Math.random().toString(36).slice(2, 8)}`;
    // Rendered anew on every change; the live region stays, so that screen readers hear it change.
    this._view = h('div');
    this._live = h('p', { role: 'status', class: 'hint', part: 'status' });
    this.shadowRoot.append(h('style', { text: CSS }), this._view, this._live);
  }

  connectedCallback() {
    // A property the page set before this module loaded sits on the element itself: take it over.
    for (const prop of ['tokenProvider', 'lines']) {
      if (Object.hasOwn(this, prop)) {
        const value = this[prop];
        delete this[prop];
        this[prop] = value;
      }
    }
    this._langWatch = new MutationObserver(() => this._render());
    this._langWatch.observe(document.documentElement, { attributes: true, attributeFilter: ['lang'] });
    if (!this._lines.length && this.hasAttribute('lines')) this._readLines();
    this._render();
    this._teaser();
  }

  disconnectedCallback() {
    this._langWatch?.disconnect();
  }

  attributeChangedCallback(name) {
    if (name === 'lines') this._readLines();
    else if (this.isConnected) this._teaser();
  }

  /** The cart: [{eventId, regularPrice, quantity?, name?, id?}]. */
  get lines() {
    return this._lines.map((l) => ({ ...l }));
  }

  set lines(value) {
    const next = (Array.isArray(value) ? value : []).map((l) => ({
      ...l,
      regularPrice: Number(l.regularPrice),
      quantity: Math.max(1, Math.min(100, Math.floor(Number(l.quantity)) || 1)),
    }));
    const same = (a, b) => a.eventId === b.eventId && a.regularPrice === b.regularPrice;
    const kept = next.length === this._lines.length && next.every((l, i) => same(l, this._lines[i]));
    this._lines = next;
    if (!kept) {
      // Another cart: only the buyer's own number carries over.
      for (const map of [this._numbers, this._drafts]) for (const key of [...map.keys()]) if (key !== 'main') map.delete(key);
      this._units = [];
      this._choice.clear();
    }
    if (!this.isConnected) return;
    this._teaser();
    if (this._passes.has(this._main())) this._quote();
    else this._render();
  }

  /** An async function giving a checkout token; asked again (`{fresh: true}`) after a 401. */
  set tokenProvider(fn) {
    this._tokenProvider = typeof fn === 'function' ? fn : null;
  }

  get tokenProvider() {
    return this._tokenProvider;
  }

  /** The latest choice, as sent in `uitpas-quote`. */
  get quote() {
    return this._detail();
  }

  /** Forgets every number and choice (a new order, another shop). */
  reset() {
    this._numbers.clear();
    this._drafts.clear();
    this._passes.clear();
    this._units = [];
    this._choice.clear();
    this._rewards = null;
    this._reward = '';
    this._error = null;
    this._seq++;
    this._busy = false;
    this._render();
    this._emit();
    this._teaser();
  }

  /** Asks for the tariffs again (after a sale, what remains changed). */
  refresh() {
    if (this._main()) return this._quote();
  }

  _readLines() {
    try {
      this.lines = JSON.parse(this.getAttribute('lines') || '[]');
    } catch {
      this._fail({ message: 'lines: not JSON', type: 'invalid-lines' });
    }
  }

  _lang() {
    const tag = (this.closest('[lang]')?.lang || document.documentElement.lang || 'nl').slice(0, 2).toLowerCase();
    return LANGS.includes(tag) ? tag : 'nl';
  }

  _t(key, values = {}) {
    return TEXT[this._lang()][key].replace(/\{(\w+)\}/g, (_, k) => values[k]);
  }

  _euro(c) {
    const locale = { nl: 'nl-BE', fr: 'fr-BE', de: 'de-BE', en: 'en-IE' }[this._lang()];
    return new Intl.NumberFormat(locale, { style: 'currency', currency: 'EUR' }).format(c / 100);
  }

  // publiq's endUserMessage in the page's language, else Dutch (always there).
  _said(message) {
    return message && (message[this._lang()] || message.nl);
  }

  _problemText(problem, status) {
    return this._said(problem?.endUserMessage) || problem?.detail || problem?.title || this._t('failed', { s: status });
  }

  _main() {
    return this._numbers.get('main') || '';
  }

  // ---- talking to the service ----------------------------------------------------------------

  async _token(fresh) {
    if (this._tokenProvider) return this._tokenProvider({ fresh });
    return this.getAttribute('checkout-token') || this.getAttribute('publishable-key') || '';
  }

  async _call(method, path, body) {
    const base = (this.getAttribute('api') || BASE).replace(/\/$/, '');
    let response;
    for (let attempt = 0; attempt < 3; attempt++) {
      const token = await this._token(attempt > 0 && response?.status === 401);
      const headers = { Accept: 'application/json, application/problem+json' };
      if (token) headers.Authorization = `Bearer ${token}`;
      if (body) headers['Content-Type'] = 'application/json';
      response = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
      if (response.status === 401 && this._tokenProvider && attempt === 0) continue;
      if (response.status === 429 && attempt < 2) {
        const wait = Math.min(5, Number(response.headers.get('retry-after')) || 1);
        await new Promise((r) => setTimeout(r, wait * 1000));
        continue;
      }
      break;
    }
    let json = null;
    try {
      json = await response.json();
    } catch {
      // not JSON (a proxy's error page)
    }
    return { status: response.status, ok: response.ok, json };
  }

  // The static social tariff of each line: "from € 2 with UiTPAS" before a number is known.
  async _teaser() {
    const asks = this._lines
      .map((l) => `${l.eventId}|${l.regularPrice}`)
      .filter((k, i, all) => all.indexOf(k) === i && !this._static.has(k));
    await Promise.all(
      asks.map(async (key) => {
        this._static.set(key, null);
        const [eventId, price] = key.split('|');
        try {
          const q = `eventId=${encodeURIComponent(eventId)}&regularPrice=${Number(price).toFixed(2)}`;
          const a = await this._call('GET', `/v1/tariffs/static?${q}`);
          const prices = (a.ok ? a.json.available : []).filter((t) => t.type === 'SOCIALTARIFF').map((t) => cents(t.price));
          if (a.ok || a.status === 400) this._static.set(key, prices.length ? Math.min(...prices) : null);
          else this._static.delete(key); // no token yet, a limit: asked again with the next change
        } catch {
          this._static.delete(key); // asked again later
        }
      }),
    );
    if (asks.length) this._render();
  }

  // The units of the quote: per line, the buyer's pass (every ticket of a group pass, one of an
  // individual pass: publiq's `remaining` is 1 for a person) and one per further ticket whose own
  // number was given.
  _plan() {
    const main = this._main();
    const group = this._passes.get(main)?.passType === 'GROUP';
    const units = [];
    this._lines.forEach((line, i) => {
      units.push({ key: `${i}:0`, line: i, number: main, quantity: group ? line.quantity : 1 });
      if (group) return;
      for (let t = 1; t < line.quantity; t++) {
        const number = this._numbers.get(`${i}:${t}`);
        if (number && validUitpasNumber(number)) units.push({ key: `${i}:${t}`, line: i, number, quantity: 1 });
      }
    });
    return units;
  }

  async _quote() {
    const seq = ++this._seq;
    this._busy = true;
    this._error = null;
    this._render();
    try {
      let units;
      let answer;
      for (;;) {
        units = this._plan();
        answer = await this._call('POST', '/v1/quotes', {
          uitpasNumber: this._main(),
          rewards: this.hasAttribute('rewards') || undefined,
          lines: units.map((u) => ({
            eventId: this._lines[u.line].eventId,
            regularPrice: this._lines[u.line].regularPrice,
            quantity: u.quantity,
            uitpasNumber: u.number,
          })),
        });
        if (seq !== this._seq) return;
        if (!answer.ok) break;
        const known = this._passes.get(this._main())?.passType;
        for (const p of answer.json.passes) this._passes.set(p.uitpasNumber, p);
        this._passes.set(this._main(), { ...answer.json.pass, uitpasNumber: this._main() });
        // A group pass, learnt now: ask again with every ticket of each line on it.
        const group = answer.json.pass.passType === 'GROUP';
        if (!known && group && this._lines.some((l) => l.quantity > 1)) continue;
        break;
      }
      if (!answer.ok) {
        this._units = [];
        this._rewards = null;
        this._reward = '';
        const problem = answer.json || {};
        this._fail({ message: this._problemText(problem, answer.status), key: 'main', status: answer.status, type: problem.type, problem });
        return;
      }
      this._units = units.map((u, i) => ({ ...u, ...answer.json.lines[i] }));
      this._choose();
      this._rewards = answer.json.rewards || null;
      // The pick stands while the pass can still redeem it.
      if (!this._rewards?.rewards?.some((r) => r.redeemable && r.id === this._reward)) this._reward = '';
    } catch (error) {
      if (seq === this._seq) this._fail({ message: this._t('offline'), key: 'main', type: 'network', error });
    } finally {
      if (seq === this._seq) {
        this._busy = false;
        this._render();
        this._emit();
      }
    }
  }

  _fail(error) {
    this._error = error;
    this._render();
    this.dispatchEvent(
      new CustomEvent('uitpas-error', {
        bubbles: true,
        composed: true,
        detail: { type: error.type, status: error.status, message: error.message, problem: error.problem },
      }),
    );
  }

  // ---- choosing tariffs, `remaining` counted across lines -------------------------------------

  // What one use of a tariff spends: a coupon is the pass's, whatever the event; the social
  // tariff's limit is per event.
  _budget(unit, tariff) {
    const event = tariff.type === 'COUPON' ? '' : this._lines[unit.line].eventId;
    return `${unit.number}|${tariff.id}|${event}`;
  }

  _usedByOthers(unit, tariff) {
    const key = this._budget(unit, tariff);
    let used = 0;
    for (const other of this._units) {
      if (other === unit || this._choice.get(other.key) !== tariff.id) continue;
      const theirs = other.available?.find((t) => t.id === tariff.id);
      if (theirs && this._budget(other, theirs) === key) used += other.quantity;
    }
    return used;
  }

  _fits(unit, tariff) {
    return tariff.remaining > 0 && tariff.coversQuantity && this._usedByOthers(unit, tariff) + unit.quantity <= tariff.remaining;
  }

  // Keeps each unit's choice while it still fits; else the social tariff when it fits (a coupon
  // is the buyer's to choose: it can be used only once), else the regular price.
  _choose() {
    for (const unit of this._units) {
      const available = unit.available || [];
      const kept = available.find((t) => t.id === this._choice.get(unit.key));
      this._choice.set(unit.key, REGULAR);
      if (kept && this._fits(unit, kept)) {
        this._choice.set(unit.key, kept.id);
        continue;
      }
      const social = available.find((t) => t.type === 'SOCIALTARIFF' && this._fits(unit, t));
      if (social) this._choice.set(unit.key, social.id);
    }
  }

  _detail() {
    const tickets = [];
    let total = 0;
    let regularTotal = 0;
    const lines = this._lines.map((line, i) => {
      const price = cents(line.regularPrice);
      let sum = price * line.quantity;
      const chosen = [];
      for (const unit of this._units.filter((u) => u.line === i)) {
        const tariff = unit.available?.find((t) => t.id === this._choice.get(unit.key));
        if (!tariff) continue;
        sum += (cents(tariff.price) - price) * unit.quantity;
        const { id, name, type } = tariff;
        chosen.push({ uitpasNumber: unit.number, quantity: unit.quantity, tariff: { id, name, type, price: tariff.price } });
        tickets.push({ eventId: line.eventId, uitpasNumber: unit.number, tariffId: id, regularPrice: line.regularPrice, quantity: unit.quantity });
      }
      total += sum;
      regularTotal += price * line.quantity;
      return { ...line, total: sum / 100, tickets: chosen };
    });
    const picked = this._rewards?.rewards?.find((r) => r.id === this._reward && r.redeemable);
    const reward = picked ? { id: picked.id, title: picked.title, points: picked.points, uitpasNumber: this._rewards.uitpasNumber } : null;
    return { tickets, lines, total: total / 100, regularTotal: regularTotal / 100, discount: (regularTotal - total) / 100, reward };
  }

  _emit() {
    this.dispatchEvent(new CustomEvent('uitpas-quote', { bubbles: true, composed: true, detail: this._detail() }));
  }

  // ---- the form ------------------------------------------------------------------------------

  _submit(event) {
    event?.preventDefault();
    const form = this.shadowRoot.querySelector('form');
    const typed = [...form.querySelectorAll('input[type=text]')].map((i) => [i.dataset.k, clean(i.value)]);
    for (const [key, number] of typed) this._numbers.set(key, number);
    this._drafts.clear();
    this._error = null;
    const main = this._main();
    const wrong = typed.find(([, n]) => n && !validUitpasNumber(n));
    if (!main || wrong) {
      // Checked here: a mistyped number never reaches the service.
      const key = !main ? 'main' : wrong[0];
      this._fail({ message: this._t(main ? 'invalid' : 'empty'), key, type: main ? 'invalid-uitpas-number' : 'missing-uitpas-number' });
      this.shadowRoot.querySelector(`[data-k="${key}"]`)?.focus();
      return;
    }
    this._quote();
  }

  _typed(input) {
    const key = input.dataset.k;
    this._drafts.set(key, input.value);
    const number = clean(input.value);
    if (key === 'main' && number !== this._main() && this._units.length) {
      // Another buyer's number: the tariffs shown were the last one's.
      this._numbers.set('main', number);
      this._units = [];
      this._choice.clear();
      this._rewards = null;
      this._reward = '';
      this._error = null;
      this._seq++;
      this._busy = false;
      this._render();
      this._emit();
    }
  }

  _render() {
    const root = this.shadowRoot;
    const active = root.activeElement;
    const live = this._busy ? this._t('busy') : '';
    const focused = active?.dataset?.k;
    const caret = active?.type === 'text' ? [active.selectionStart, active.selectionEnd] : null;
    const t = (k, v) => this._t(k, v);
    const id = this._id;
    const main = this._main();
    const quoted = this._units.length > 0;
    const statics = this._lines.map((l) => this._static.get(`${l.eventId}|${l.regularPrice}`)).filter((c) => c != null);
    const error = (key) => (this._error?.key === key ? this._error.message : '');
    const field = (key, label, value, extra) => {
      const err = error(key);
      return [
        h('label', { for: `${id}-${key}`, part: 'label' }, label, ' ', h('span', { class: 'hint', text: `(${t('digits')})` })),
        h(
          'div',
          { class: 'field' },
          h('input', {
            type: 'text',
            id: `${id}-${key}`,
            name: `uitpas-${key}`,
            'data-k': key,
            part: 'input',
            inputmode: 'numeric',
            autocomplete: 'off',
            maxlength: 20,
            value: this._drafts.get(key) ?? value,
            'aria-invalid': err ? 'true' : null,
            'aria-describedby': `${id}-${key}-e`,
            oninput: (e) => this._typed(e.target),
            // A further ticket's number is checked once the buyer leaves its field (after the focus moved).
            onchange:
              key === 'main'
                ? null
                : (e) => {
                    const typed = clean(e.target.value);
                    setTimeout(() => typed !== (this._numbers.get(key) || '') && this._submit(), 0);
                  },
          }),
          extra,
        ),
        h('p', { id: `${id}-${key}-e`, class: 'msg error', part: 'error', 'data-k-error': key, role: 'alert', hidden: !err, text: err }),
        this._passView(key === 'main' ? main : this._numbers.get(key)),
      ];
    };
    const button = h('button', { type: 'submit', part: 'button', disabled: this._busy, text: t('check') });

    const lines = this._lines.map((line, i) => {
      const units = this._units.filter((u) => u.line === i);
      const individual = quoted && this._passes.get(main)?.passType !== 'GROUP';
      const extras = [];
      if (individual) {
        for (let n = 1; n < line.quantity; n++) {
          const key = `${i}:${n}`;
          const unit = units.find((u) => u.key === key);
          extras.push(h('div', { class: 'ticket', part: 'ticket' }, ...field(key, t('ticket', { n: n + 1, name: line.name || '' }), this._numbers.get(key) || ''), unit && this._unitView(unit, line, n)));
        }
      }
      const own = units.find((u) => u.key === `${i}:0`);
      return h(
        'li',
        { class: 'line', part: 'line', 'data-line': i, 'data-event-id': line.eventId },
        line.name ? h('p', { class: 'name', part: 'line-name', text: line.name }) : null,
        own && this._unitView(own, line, individual && line.quantity > 1 ? 0 : -1),
        extras.length ? h('p', { class: 'hint', part: 'hint', text: t('perTicket') }) : null,
        ...extras,
      );
    });

    const detail = this._detail();
    this._view.replaceChildren(
      h(
        'form',
        { class: 'root', part: 'root', novalidate: true, onsubmit: (e) => this._submit(e), 'aria-busy': this._busy ? 'true' : 'false' },
        h('p', { class: 'teaser', part: 'teaser', hidden: quoted || !statics.length, text: statics.length ? t('teaser', { p: this._euro(Math.min(...statics)) }) : '' }),
        h('p', { class: 'hint', part: 'intro', text: t('intro') }),
        h('div', {}, ...field('main', t('number'), main, button)),
        h('ol', { class: 'lines', part: 'lines', hidden: !quoted }, ...lines),
        h('p', { class: 'total', part: 'total', hidden: !quoted || detail.discount <= 0, text: t('discount', { t: this._euro(cents(detail.discount)) }) }),
        quoted ? this._rewardsView() : null,
      ),
    );
    // Said once the tariffs are there: what the buyer saves (the choices are in the form).
    const spoken = live || (quoted && detail.discount > 0 ? t('discount', { t: this._euro(cents(detail.discount)) }) : '');
    if (this._live.textContent !== spoken) this._live.textContent = spoken;
    this._live.className = this._busy ? 'hint' : 'sr'; // the saving is on screen already (total)
    const again = focused && root.querySelector(`[data-k="${focused}"]`);
    if (again) {
      again.focus();
      if (caret) again.setSelectionRange(...caret);
    }
  }

  // A pass's status and every message UiTPAS says must be shown.
  _passView(number) {
    const pass = number && this._passes.get(number);
    if (!pass || !this._units.length) return null;
    const status = pass.socialTariff?.status;
    return h(
      'div',
      { part: 'pass', 'data-status': status, 'data-pass-type': pass.passType },
      h('p', { part: 'pass-status' }, this._t('social') + this._t('colon'), h('strong', { text: TEXT[this._lang()][status] || status }), pass.passType === 'GROUP' ? ` (${this._t('group')})` : ''),
      pass.messages?.length
        ? h('ul', { class: 'msgs' }, ...pass.messages.map((m) => h('li', { class: 'msg', part: 'message pass-message', 'data-level': m.level, text: m.text })))
        : null,
    );
  }

  // With the `rewards` attribute: the rewards the buyer's pass can pay with its points, its
  // balance, one to pick (or none); UiTPAS's message for one it refused; a group pass's message.
  _rewardsView() {
    const r = this._rewards;
    if (!r) return null;
    const t = (k, v) => this._t(k, v);
    if (!r.canRedeem || r.problem) {
      const text = r.message || (r.problem && this._problemText(r.problem, r.problem.status));
      return text ? h('p', { class: 'msg', part: 'message rewards-message', 'data-rewards': 'none', text }) : null;
    }
    if (!r.rewards.length) return null; // the shop offers none: no balance to show either
    const offered = r.rewards.filter((x) => x.redeemable);
    const refused = r.rewards.filter((x) => !x.redeemable && x.message);
    const name = `${this._id}-reward`;
    const option = (reward) => {
      const value = reward ? reward.id : '';
      const input = h('input', {
        type: 'radio',
        name,
        value,
        'data-k': `reward:${value}`,
        onchange: () => {
          this._reward = value;
          this._render();
          this._emit();
        },
      });
      input.checked = this._reward === value;
      return h(
        'label',
        { class: 'tariff', part: 'reward', 'data-reward-id': value },
        input,
        h('span', { part: 'reward-name', text: reward ? t('reward', { title: reward.title, p: reward.points ?? 0 }) : t('noReward') }),
      );
    };
    return h(
      'div',
      { class: 'unit', part: 'rewards', 'data-points-balance': r.pointsBalance },
      h('p', { part: 'points-balance', text: t('balance', { b: r.pointsBalance ?? 0 }) }),
      offered.length ? h('fieldset', { part: 'reward-choices' }, h('legend', { text: t('points') }), ...offered.map(option), option(null)) : null,
      ...refused.map((x) => h('p', { class: 'msg', part: 'message reward-refused', 'data-reward-id': x.id, text: `${x.title}${t('colon')}${x.message}` })),
    );
  }

  // The tariffs of one unit (a line, or one ticket of it), its messages and its problem.
  _unitView(unit, line, ticket) {
    const t = (k, v) => this._t(k, v);
    const name = `${this._id}-t-${unit.key}`;
    const chosen = this._choice.get(unit.key) ?? REGULAR;
    const warnings = [];
    const option = (tariff) => {
      const value = tariff ? tariff.id : REGULAR;
      let extra = null;
      let disabled = false;
      if (tariff) {
        if (tariff.remaining === 0) [extra, disabled] = [t('usedUp'), true];
        else if (!tariff.coversQuantity) {
          extra = t('left', { n: tariff.remaining });
          warnings.push(t('fewer', { t: tariff.name, n: tariff.remaining, q: unit.quantity }));
        } else if (this._usedByOthers(unit, tariff) + unit.quantity > tariff.remaining) [extra, disabled] = [t('elsewhere'), true];
        else if (tariff.type === 'COUPON') extra = t('coupon');
      }
      const each = cents(tariff ? tariff.price : line.regularPrice);
      const input = h('input', {
        type: 'radio',
        name,
        value,
        'data-k': `${unit.key}:${value}`,
        disabled,
        onchange: () => {
          this._choice.set(unit.key, value);
          this._render();
          this._emit();
        },
      });
      input.checked = !disabled && chosen === value;
      return h(
        'label',
        { class: 'tariff', part: 'tariff', 'data-tariff-id': value, 'data-disabled': disabled || null },
        input,
        h('span', { part: 'tariff-name', text: tariff ? tariff.name : t('regular') }),
        h('span', { class: 'price', part: 'tariff-price', text: this._euro(each) + (unit.quantity > 1 ? t('each', { t: this._euro(each * unit.quantity) }) : '') }),
        extra && h('span', { class: 'extra', part: 'tariff-extra', text: extra }),
      );
    };
    const available = unit.available || [];
    const options = available.map(option);
    const label = t('tariff', { name: line.name || '' }) + (ticket >= 0 ? ` (${t('ticketN', { n: ticket + 1 })})` : '');
    const message = this._said(unit.endUserMessage);
    const problem =
      unit.problem &&
      (unit.problem.type?.endsWith(':duplicate-pass') ? t('twice') : this._problemText(unit.problem, unit.problem.status));
    return h(
      'div',
      { class: 'unit', part: 'unit', 'data-unit': unit.key },
      available.length ? h('fieldset', { part: 'tariffs' }, h('legend', { text: label }), ...options, option(null)) : null,
      warnings.length ? h('p', { class: 'msg warn', part: 'message warning', text: warnings.join(' ') }) : null,
      message ? h('p', { class: 'msg', part: 'message line-message', text: message }) : null,
      problem ? h('p', { class: 'msg error', part: 'message line-problem', text: problem }) : null,
    );
  }
}

if (globalThis.customElements && !customElements.get('uitpas-discount')) customElements.define('uitpas-discount', UitpasDiscount);
