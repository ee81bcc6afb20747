// Verifying the webhooks of uitpas-checkout, in the shop's backend (Node 20+, Deno, Bun, workers:
// anything with Web Crypto).
//
// Every delivery is `POST <WEBHOOK_URL>` with a JSON body `{id, type, createdAt, data}` and the
// header `Uitpas-Checkout-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=…]`, which signs
// `"<t>.<raw body>"` with each of the service's WEBHOOK_SECRET (two while it is rotated). Verify
// the RAW body (before any JSON parsing), refuse old timestamps, answer 2xx quickly, and
// de-duplicate by `id`: a delivery is retried until you answer 2xx, so it may come twice.

/** What happened. `data` is the resource (registration, ticket sale, activity, reward redemption) as it stands. */
export type WebhookType =
  | "registration.registered"
  | "registration.rejected"
  | "registration.needs_attention"
  | "hold.confirmed"
  | "hold.released"
  | "hold.expired"
  | "ticket_sale.cancelled"
  | "ticket_sale.needs_attention"
  | "ticket_sale.stray_cancelled"
  | "activity.created"
  | "activity.updated"
  | "activity.rejected"
  | "reward_redemption.redeemed"
  | "reward_redemption.rejected"
  | "reward_redemption.cancelled"
  | "reward_redemption.needs_attention";

export interface WebhookEvent<T = unknown> {
  /** The event id, also in the `Webhook-Id` header: your de-duplication key. */
  id: string;
  type: WebhookType;
  createdAt: string;
  data: T;
}

const encoder = new TextEncoder();

async function hmacHex(secret: string, message: Uint8Array<ArrayBuffer>): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, message));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/**
 * Checks a delivery's signature with your secret(s) and returns the parsed event, or throws.
 * `toleranceSeconds`: how old a timestamp may be (default five minutes, against replays).
 */
export async function verifyWebhook<T = unknown>(
  rawBody: string | Uint8Array,
  signatureHeader: string | null | undefined,
  secrets: string | string[],
  toleranceSeconds = 300,
  now: number = Date.now() / 1000,
): Promise<WebhookEvent<T>> {
  if (!signatureHeader) throw new Error("no Uitpas-Checkout-Signature header");
  const parts = signatureHeader.split(",").map((p) => p.trim());
  const t = parts.find((p) => p.startsWith("t="))?.slice(2);
  const signatures = parts.filter((p) => p.startsWith("v1=")).map((p) => p.slice(3));
  if (!t || !/^\d+$/.test(t) || signatures.length === 0) throw new Error("a malformed signature header");
  if (Math.abs(now - Number(t)) > toleranceSeconds) throw new Error("the signature's timestamp is too old");
  const body = typeof rawBody === "string" ? encoder.encode(rawBody) : rawBody;
  const message: Uint8Array<ArrayBuffer> = new Uint8Array([...encoder.encode(`${t}.`), ...body]);
  for (const secret of Array.isArray(secrets) ? secrets : [secrets]) {
    const expected = await hmacHex(secret, message);
    if (signatures.some((s) => sameText(s, expected))) {
      return JSON.parse(new TextDecoder().decode(body)) as WebhookEvent<T>;
    }
  }
  throw new Error("no signature matches the secret");
}
