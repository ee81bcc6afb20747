// A small typed fetch client for uitpas-checkout. Every type comes from src/schema.d.ts, which is
// generated from openapi/openapi.json (`npm run generate`): when the API changes, `npm run check`
// fails here first.
//
// Two clients, because the secret key must never reach a browser:
//   createPublicClient({ baseUrl, publicKey })  the browser checkout: passes, tariffs, quotes, with
//                                               a publishable key (pk_…) or a checkout token (ct_…)
//   createShopClient({ baseUrl, shopKey })      the shop backend: checkout tokens, registrations,
//                                               cancellations, check-ins, activities (and the
//                                               public calls, with the secret key)
// A successful call resolves to `{ status, data }`, typed per status (201 vs 202 …); an error
// answer rejects with a `ProblemError` carrying the RFC 9457 problem. A network failure rejects
// with fetch's own error.
import type { components, operations } from "./schema";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];
export type EndUserMessage = Schemas["EndUserMessage"];
export type Language = keyof EndUserMessage;

/** An error answer of the service: `application/problem+json` (RFC 9457). */
export class ProblemError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(`${problem.status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ""}`);
    this.name = "ProblemError";
    this.problem = problem;
  }
  get status(): number { return this.problem.status; }
  /** Compare whole: `https://api.publiq.be/probs/uitpas/...` or `urn:uitpas-checkout:problem:...`. */
  get type(): string { return this.problem.type; }
  /** The text to show the buyer, in `lang` when UiTPAS gave it, else in Dutch; none when absent. */
  userMessage(lang: Language = "nl"): string | undefined {
    const m = this.problem.endUserMessage;
    return m ? (m[lang] ?? m.nl) : undefined;
  }
}

type Json<R> = R extends { content: { "application/json": infer T } } ? T : undefined;
/** The successful answers of an operation, one `{ status, data }` per documented 2xx status. */
export type Ok<K extends keyof operations> = {
  [S in keyof operations[K]["responses"]]: S extends 200 | 201 | 202 | 204
    ? { status: S; data: Json<operations[K]["responses"][S]> }
    : never;
}[keyof operations[K]["responses"]];
type Query<K extends keyof operations> = NonNullable<operations[K]["parameters"]["query"]>;
type Body<K extends keyof operations> = operations[K]["requestBody"] extends {
  content: { "application/json": infer T };
} ? T : never;
type Need<T, F extends keyof T> = T & Required<Pick<T, F>>;

export interface ClientOptions {
  /** e.g. `https://checkout.example.org` (no trailing path). */
  baseUrl: string;
  /** Another fetch (tests, a timeout wrapper); default the global one. */
  fetch?: typeof fetch;
}

/**
 * The bearer credential of a call: a key or token, or a function asked before every call (for a
 * checkout token that the shop backend mints again when it expires). `undefined`: none.
 */
export type Credential = string | (() => string | undefined | Promise<string | undefined>);

export interface PublicClientOptions extends ClientOptions {
  /**
   * The customer's publishable key (`pk_…`: a public, long-lived page) or a checkout token that the
   * shop backend minted for the cart (`ct_…`, see `ShopClient.createCheckoutToken`: the checkout
   * itself). Sent as `Authorization: Bearer …`. Without it, only a development service answers.
   */
  publicKey?: Credential;
}

function caller(options: ClientOptions, credential?: Credential) {
  const doFetch = options.fetch ?? globalThis.fetch;
  const base = options.baseUrl.replace(/\/+$/, "");
  return async function call<K extends keyof operations>(
    method: string,
    path: string,
    init: { query?: object; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Ok<K>> {
    const url = new URL(base + path);
    for (const [name, value] of Object.entries(init.query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { Accept: "application/json, application/problem+json", ...init.headers };
    const bearer = typeof credential === "function" ? await credential() : credential;
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await doFetch(url, {
      method,
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await response.text();
    if (!response.ok) throw new ProblemError(asProblem(response, text));
    return { status: response.status, data: text ? JSON.parse(text) : undefined } as Ok<K>;
  };
}

/** The problem of an error answer; a body that is not one (a proxy's HTML page) becomes a bare one. */
function asProblem(response: Response, text: string): Problem {
  try {
    const body = JSON.parse(text);
    if (body && typeof body.type === "string" && typeof body.title === "string") return body as Problem;
  } catch {
    // not JSON
  }
  return { type: "about:blank", title: response.statusText || "Error", status: response.status };
}

const seg = encodeURIComponent;

/** The public endpoints, for the browser checkout (with a publishable key or a checkout token). */
export function createPublicClient(options: PublicClientOptions) {
  const call = caller(options, options.publicKey);
  return {
    getEventUitpas: (eventId: string) =>
      call<"get-event-uitpas">("GET", `/v1/events/${seg(eventId)}/uitpas`),
    getStaticTariffs: (query: Need<Query<"get-static-tariffs">, "eventId" | "regularPrice">) =>
      call<"get-static-tariffs">("GET", "/v1/tariffs/static", { query }),
    getPass: (uitpasNumber: string) => call<"get-pass">("GET", `/v1/passes/${seg(uitpasNumber)}`),
    getTariffs: (query: Need<Query<"get-tariffs">, "eventId" | "uitpasNumber" | "regularPrice">) =>
      call<"get-tariffs">("GET", "/v1/tariffs", { query }),
    postQuote: (cart: Body<"post-quote">) => call<"post-quote">("POST", "/v1/quotes", { body: cart }),
  };
}

/**
 * The shop endpoints, for the shop backend only: the key is a secret. Includes the public calls,
 * made with the same secret key.
 */
export function createShopClient(options: ClientOptions & { shopKey: string }) {
  const call = caller(options, options.shopKey);
  return {
    ...createPublicClient({ ...options, publicKey: options.shopKey }),
    /**
     * A checkout token for one cart (`{eventIds, maxPasses?, expiresIn?}`): give `data.token` to the
     * browser, whose public client sends it; it asks about these events only, for a budget of
     * passes, until `data.expiresAt`.
     */
    createCheckoutToken: (cart: Body<"post-checkout-token">) =>
      call<"post-checkout-token">("POST", "/v1/checkout-tokens", { body: cart }),
    /** One Idempotency-Key per order, stored with the order and reused on every retry. */
    register: (order: Body<"post-registration">, idempotencyKey: string) =>
      call<"post-registration">("POST", "/v1/registrations", {
        body: order,
        headers: { "Idempotency-Key": idempotencyKey },
      }),
    getRegistration: (id: string) => call<"get-registration">("GET", `/v1/registrations/${seg(id)}`),
    searchTicketSales: (query: Query<"search-ticket-sales"> = {}) =>
      call<"search-ticket-sales">("GET", "/v1/ticket-sales", { query }),
    getTicketSale: (id: string) => call<"get-ticket-sale">("GET", `/v1/ticket-sales/${seg(id)}`),
    cancelTicketSale: (id: string) => call<"cancel-ticket-sale">("DELETE", `/v1/ticket-sales/${seg(id)}`),
    /** After payment: a hold (`hold` in the order) stays registered. 409 `hold-expired` when too late. */
    confirmHold: (id: string) => call<"confirm-hold">("POST", `/v1/registrations/${seg(id)}/confirm`),
    /** Payment failed or abandoned: the hold's sales are cancelled at UiTPAS. */
    releaseHold: (id: string) => call<"release-hold">("POST", `/v1/registrations/${seg(id)}/release`),
    /** Work with status needs-attention (a person fixed the cause): due again now. */
    retryRegistration: (id: string) =>
      call<"retry-registration">("POST", `/v1/registrations/${seg(id)}/retry`),
    /** Gives up a registration that needs attention: it becomes rejected. */
    abandonRegistration: (id: string) =>
      call<"abandon-registration">("POST", `/v1/registrations/${seg(id)}/abandon`),
    retryCancellation: (id: string) =>
      call<"retry-ticket-sale-cancellation">("POST", `/v1/ticket-sales/${seg(id)}/retry`),
    /** Gives up a cancellation that needs attention: the sale stays registered. */
    abandonCancellation: (id: string) =>
      call<"abandon-ticket-sale-cancellation">("POST", `/v1/ticket-sales/${seg(id)}/abandon`),
    checkIn: (id: string) =>
      call<"patch-ticket-sale">("PATCH", `/v1/ticket-sales/${seg(id)}`, { body: { checkedIn: true } }),
    /** At the door: whether the ticket can be checked in now (`allowed`), with UiTPAS's `endUserMessage` when not. */
    getCheckinStatus: (id: string) =>
      call<"get-ticket-sale-checkin-status">("GET", `/v1/ticket-sales/${seg(id)}/checkin-status`),
    /** At the door: a pass by UiTPAS number, chip number or INSZ number (never logged or stored by the service). */
    getDoorPass: (identifier: string) =>
      call<"get-door-pass">("GET", "/v1/door/passes", { query: { identifier } }),
    /** The activity's details (its event is created, and updated when they change), or `{eventId}` of an existing event. */
    putActivity: (shopActivityId: string, activity: Body<"put-activity">) =>
      call<"put-activity">("PUT", `/v1/activities/${seg(shopActivityId)}`, { body: activity }),
    getActivity: (shopActivityId: string) =>
      call<"get-activity">("GET", `/v1/activities/${seg(shopActivityId)}`),
    /** Cancelled (`Unavailable`), postponed (`TemporarilyUnavailable`) or `Available` again. */
    putActivityStatus: (shopActivityId: string, status: Body<"put-activity-status">) =>
      call<"put-activity-status">("PUT", `/v1/activities/${seg(shopActivityId)}/status`, { body: status }),
    /** The event is soft-deleted in UiTdatabank (a linked event is left to its organizer). */
    deleteActivity: (shopActivityId: string) =>
      call<"delete-activity">("DELETE", `/v1/activities/${seg(shopActivityId)}`),
    /** Webhook events, newest first, with how their delivery went (`failed`: given up). */
    listWebhookDeliveries: (query: Query<"list-webhook-deliveries"> = {}) =>
      call<"list-webhook-deliveries">("GET", "/v1/webhook-deliveries", { query }),
    /** Delivers a given-up (`failed`) event again. 409 `delivery-not-failed` otherwise. */
    retryWebhookDelivery: (id: string) =>
      call<"retry-webhook-delivery">("POST", `/v1/webhook-deliveries/${seg(id)}/retry`),
    /** The rewards the customer's organizers offer for UiTPAS points (cached five minutes). */
    listRewards: () => call<"list-rewards">("GET", "/v1/rewards"),
    /** Whether the pass can redeem the reward now, with its points balance and the cost; show `message` when not. */
    getRedeemStatus: (rewardId: string, uitpasNumber: string) =>
      call<"get-reward-redeem-status">("GET", `/v1/rewards/${seg(rewardId)}/redeem-status`, {
        query: { uitpasNumber },
      }),
    /** Spends the pass's points on the reward, once per Idempotency-Key (reuse it on every retry). */
    redeemReward: (redemption: Body<"post-reward-redemption">, idempotencyKey: string) =>
      call<"post-reward-redemption">("POST", "/v1/reward-redemptions", {
        body: redemption,
        headers: { "Idempotency-Key": idempotencyKey },
      }),
    listRedemptions: (query: Query<"list-reward-redemptions"> = {}) =>
      call<"list-reward-redemptions">("GET", "/v1/reward-redemptions", { query }),
    getRedemption: (id: string) => call<"get-reward-redemption">("GET", `/v1/reward-redemptions/${seg(id)}`),
    /** After payment: a held redemption (`hold` in the request) stays redeemed. 409 `hold-expired` when too late. */
    confirmRedemption: (id: string) =>
      call<"confirm-reward-redemption">("POST", `/v1/reward-redemptions/${seg(id)}/confirm`),
    /** Payment failed or abandoned: the held redemption is cancelled at UiTPAS, the points come back. */
    releaseRedemption: (id: string) =>
      call<"release-reward-redemption">("POST", `/v1/reward-redemptions/${seg(id)}/release`),
    /** The points come back. 409 `not-redeemed` while pending or when rejected. */
    cancelRedemption: (id: string) =>
      call<"cancel-reward-redemption">("DELETE", `/v1/reward-redemptions/${seg(id)}`),
    /** A redemption that needs attention, once the cause is fixed: 202, due again; a webhook tells the outcome. */
    retryRedemption: (id: string) =>
      call<"retry-reward-redemption">("POST", `/v1/reward-redemptions/${seg(id)}/retry`),
    /**
     * Gives up a redemption that needs attention: 200 `rejected` (nothing at UiTPAS), or 202 `pending` while
     * the service cancels what UiTPAS may hold of it (a lost answer); 200 `redeemed` when its cancellation waited.
     */
    abandonRedemption: (id: string) =>
      call<"abandon-reward-redemption">("POST", `/v1/reward-redemptions/${seg(id)}/abandon`),
  };
}

export type PublicClient = ReturnType<typeof createPublicClient>;
export type ShopClient = ReturnType<typeof createShopClient>;
