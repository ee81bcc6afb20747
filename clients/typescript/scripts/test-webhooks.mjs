// Runs src/webhooks.ts's verifier against a signature the service's scheme gives (computed with
// openssl: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec_0123456789abcdef').
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import ts from "typescript";

const source = readFileSync(new URL("../src/webhooks.ts", import.meta.url), "utf8");
const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
const { verifyWebhook } = await import(`data:text/javascript;base64,${Buffer.from(outputText).toString("base64")}`);

const body = '{"a":1}';
const header = "t=1700000000,v1=0000,v1=9f5e37cdc7ea587c7c02062d93283cad000d66a831b2a1676418696db47ed6c2";
const now = 1700000010;
assert.deepEqual(await verifyWebhook(body, header, ["whsec_other_secret_1", "whsec_0123456789abcdef"], 300, now), { a: 1 });
await assert.rejects(verifyWebhook(body, header, "whsec_wrong_wrong_wrong", 300, now), /no signature matches/);
await assert.rejects(verifyWebhook('{"a":2}', header, "whsec_0123456789abcdef", 300, now), /no signature matches/);
await assert.rejects(verifyWebhook(body, header, "whsec_0123456789abcdef", 300, now + 3600), /too old/);
await assert.rejects(verifyWebhook(body, undefined, "whsec_0123456789abcdef", 300, now), /no Uitpas-Checkout-Signature/);
console.log("webhooks.ts verifies the service's signatures");
