// Prints the element's SRI hash (sha384, as an `integrity` attribute takes it); with --write, puts
// it in docs/element.md and README.md beside this file (tests/element.rs fails when they are stale).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const here = new URL('..', import.meta.url);
const hash = `sha384-${createHash('sha384').update(readFileSync(new URL('uitpas-discount.js', here))).digest('base64')}`;
console.log(hash);
if (process.argv.includes('--write')) {
  for (const doc of [new URL('README.md', here), new URL('../../docs/element.md', here)]) {
    const text = readFileSync(doc, 'utf8');
    writeFileSync(doc, text.replace(/sha384-[A-Za-z0-9+/=]{64}/g, hash));
  }
}
