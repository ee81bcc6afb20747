// Fails when the element is 15 kB or more once gzipped (what a browser downloads), or when its
// version differs from the one the service serves it under (src/http/element.rs).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const LIMIT = 15 * 1024;
const here = new URL('..', import.meta.url);
const source = readFileSync(new URL('uitpas-discount.js', here));
const gzipped = gzipSync(source, { level: 9 }).length;
console.log(`uitpas-discount.js: ${source.length} bytes, ${gzipped} bytes gzipped (limit ${LIMIT})`);
if (gzipped >= LIMIT) {
  console.error(`too large: ${gzipped} bytes gzipped, the limit is ${LIMIT}`);
  process.exit(1);
}
const { version } = JSON.parse(readFileSync(new URL('package.json', here), 'utf8'));
const served = readFileSync(new URL('../../src/http/element.rs', here), 'utf8');
if (!served.includes(`pub const VERSION: &str = "${version}";`)) {
  console.error(`src/http/element.rs does not serve version ${version} (package.json)`);
  process.exit(1);
}
