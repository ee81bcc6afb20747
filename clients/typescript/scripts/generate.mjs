// Generates src/schema.d.ts from the service's committed OpenAPI document.
//
//   node scripts/generate.mjs          regenerate src/schema.d.ts
//   node scripts/generate.mjs --check  regenerate into a temporary file and fail when it differs
//                                      from the committed src/schema.d.ts (stale types)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const spec = resolve(root, "../../openapi/openapi.json");
const committed = join(root, "src/schema.d.ts");
const cli = join(root, "node_modules/openapi-typescript/bin/cli.js");

function generate(output) {
  // --default-non-nullable false: a field with a default (e.g. `quantity`) stays optional in
  // request bodies, as the service treats it.
  execFileSync(
    process.execPath,
    [cli, spec, "--output", output, "--default-non-nullable", "false"],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
}

if (process.argv.includes("--check")) {
  const dir = mkdtempSync(join(tmpdir(), "uitpas-checkout-schema-"));
  try {
    const fresh = join(dir, "schema.d.ts");
    generate(fresh);
    if (readFileSync(fresh, "utf8") !== readFileSync(committed, "utf8")) {
      console.error(
        "src/schema.d.ts is stale: it differs from what openapi/openapi.json generates.\n" +
          "Run `npm run generate` in clients/typescript and commit the result.",
      );
      process.exit(1);
    }
    console.log("src/schema.d.ts is up to date with openapi/openapi.json");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  generate(committed);
  console.log(`generated ${committed}`);
}
