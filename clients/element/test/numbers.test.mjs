// The local check of UiTPAS numbers: 13 digits and the Luhn check digit (no browser needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validUitpasNumber } from '../uitpas-discount.js';

test("every number of publiq's test dataset passes", () => {
  for (const n of ['0900000095902', '0900000067513', '0900000031618', '0900010959113', '0900000002312',
    '0900000058918', '1000000520006', '0900000093204', '0900004518305', '0900011902815', '0900011903417',
    '0900000074519', '0900000020405', '0900000045410', '0900000191800']) {
    assert.equal(validUitpasNumber(n), true, n);
  }
});

test('a mistyped digit, a swap, or another length is refused', () => {
  assert.equal(validUitpasNumber('0900000067514'), false); // last digit
  assert.equal(validUitpasNumber('0900000076513'), false); // two digits swapped
  assert.equal(validUitpasNumber('090000006751'), false);
  assert.equal(validUitpasNumber('09000000675130'), false);
  assert.equal(validUitpasNumber('09000000675l3'), false);
  assert.equal(validUitpasNumber(''), false);
});
