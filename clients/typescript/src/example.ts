// How a shop uses the client; type-checked by `npm run check` (not run). See docs/integration.md
// for the flow and what each answer means.
import { ProblemError, createPublicClient, createShopClient, type Schemas } from "./client";

const EVENT = "5a0967f9-cc06-4c3c-9206-30481a767434";

/** In the browser: no key. Returns the tariffs to offer, or the message to show instead. */
export async function offerTariffs(baseUrl: string, uitpasNumber: string) {
  const api = createPublicClient({ baseUrl });
  const { data: participation } = await api.getEventUitpas(EVENT);
  if (!participation.enabled) return { show: false as const };

  const { data: teaser } = await api.getStaticTariffs({ eventId: EVENT, regularPrice: "10.00" });
  const from = teaser.available?.[0]?.price; // "from € 2 with UiTPAS"

  try {
    const { data: pass } = await api.getPass(uitpasNumber);
    const messages = pass.messages.map((m) => `${m.level}: ${m.text}`); // show every one
    // Decide on socialTariff.status, never on socialTariff.endDate (grace periods exist).
    const quote = await api.postQuote({ uitpasNumber, lines: [{ eventId: EVENT, regularPrice: 10, quantity: 2 }] });
    const line = quote.data.lines[0];
    const offer: Schemas["QuotedTariff"][] = line?.available.filter((t) => t.coversQuantity) ?? [];
    const say = line?.endUserMessage?.nl ?? line?.problem?.endUserMessage?.nl;
    return { show: true as const, from, status: pass.socialTariff.status, messages, offer, say };
  } catch (e) {
    if (e instanceof ProblemError) return { show: true as const, from, say: e.userMessage("nl") ?? e.problem.title };
    throw e;
  }
}

/** In the shop backend, after payment: register the order's UiTPAS tickets exactly once. */
export async function registerPaidOrder(baseUrl: string, shopKey: string, order: Schemas["RegistrationRequest"], key: string) {
  const shop = createShopClient({ baseUrl, shopKey });
  try {
    const answer = await shop.register(order, key); // `key` is stored with the order, reused on retries
    switch (answer.status) {
      case 201:
        return { registered: answer.data.ticketSales.map((s) => s.id) };
      case 202:
        // Stored and will be registered: keep the key, never retry with a new one.
        return { pending: answer.data.id };
    }
  } catch (e) {
    if (e instanceof ProblemError && e.status < 500 && e.status !== 429) {
      // Refused (nothing registered): charge the regular price or refund; e.userMessage() says why.
      return { refused: e.type, pointer: e.problem.jsonPointer, message: e.userMessage("nl") };
    }
    throw e; // network error, 429 or 5xx: retry later with the SAME key
  }
}

/** A refund: cancel each ticket sale (204 done, 202 will be done, 409 nothing to cancel). */
export async function refund(baseUrl: string, shopKey: string, ticketSaleIds: string[]) {
  const shop = createShopClient({ baseUrl, shopKey });
  for (const id of ticketSaleIds) {
    const { status } = await shop.cancelTicketSale(id);
    if (status === 202) console.info(`cancellation of ${id} stored; it is replayed until UiTPAS confirms`);
  }
  const { data } = await shop.searchTicketSales({ status: "cancelling" });
  return data.totalItems;
}
