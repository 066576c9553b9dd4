// sub_filter's matcher: nginx's semantics (leftmost match, the config's first pattern where
// several match at one place, ASCII-only case folding, once), the same output however the body
// is split (down to every byte), and only what could still match held back between writes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildSubTables, lowerBytes, SubMatcher } from '../../../src/http/sub-matcher.js';

interface Run { out: string; heldAfter: number[] }

/** Runs `body` split at `cuts` through patterns → replacements. */
function run(pairs: ReadonlyArray<readonly [string, string]>, body: string, cuts: readonly number[] = [], once = false): Run {
  const tables = buildSubTables(pairs.map(([m]) => lowerBytes(Buffer.from(m, 'utf8'))));
  const parts: Buffer[] = [];
  const m = new SubMatcher(tables, once, (i) => Buffer.from(pairs[i]![1], 'utf8'), (c) => parts.push(Buffer.from(c)));
  const bytes = Buffer.from(body, 'utf8');
  const heldAfter: number[] = [];
  let from = 0;
  for (const at of [...cuts, bytes.length]) {
    m.write(bytes.subarray(from, at));
    const emitted = Buffer.concat(parts).length;
    heldAfter.push(emitted);
    from = at;
  }
  m.end();
  return { out: Buffer.concat(parts).toString('utf8'), heldAfter };
}

/** The plain definition: at each place from the left, the first pattern of the config that matches there. */
function reference(pairs: ReadonlyArray<readonly [string, string]>, body: string, once = false): string {
  const lower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
  const text = lower(body);
  const used = new Set<number>();
  let out = '';
  let i = 0;
  while (i < body.length) {
    let hit = -1;
    if (!(once && used.size === pairs.length)) {
      for (let p = 0; p < pairs.length; p++) {
        if (once && used.has(p)) continue;
        if (text.startsWith(lower(pairs[p]![0]), i)) { hit = p; break; }
      }
    }
    if (hit === -1) { out += body[i]; i++; continue; }
    out += pairs[hit]![1];
    i += pairs[hit]![0].length;
    used.add(hit);
  }
  return out;
}

test('nginx-tests cases: complex prefixes, several patterns, case, once', () => {
  assert.equal(run([['abac', '_r']], 'abaabac').out, 'aba_r');
  assert.equal(run([['ababX', '_r']], 'abababX').out, 'ab_r');
  assert.equal(run([['aab', '_r']], 'aaaab').out, 'aa_r');
  assert.equal(run([['aab', '+'], ['yyz', '-']], 'AABYYZAAB').out, '+-+');
  assert.equal(run([['aabb', '+'], ['aaabb', '-']], 'aabbaaabbaabb').out, '+-+');
  assert.equal(run([['ab', '+'], ['cd', '-'], ['ef', '*'], ['gh', '!'], ['x', '_']], 'AAabcdefghBxBabCxCcdDDefEEghFF').out, 'AA+-*!B_B+C_C-DD*EE!FF');
  assert.equal(run([['abpatternyz', '+'], ['abpa', '-'], ['tter', '*']], 'abpatternyzABCDEabpatternyABCDE').out, '+ABCDE-*nyABCDE');
  assert.equal(run([['aab', '+'], ['yyz', '-']], 'yyzyyzaabaabyyz', [], true).out, '-yyz+aabyyz');
  assert.equal(run([['foo', 'bar']], 'foofoo', [], true).out, 'barfoo');
  // Only ASCII letters fold: the Cyrillic pattern matches its own case only.
  assert.equal(run([['паттерн', 'x']], 'паттерн ПАТТЕРН').out, 'x ПАТТЕРН');
  // A match the end of the body cuts off is no match, and a shorter pattern inside it is not looked for.
  assert.equal(run([['abcd', '1'], ['c', '2']], 'xabc').out, 'xabc');
  assert.equal(run([['abcd', '1'], ['c', '2']], 'xabcx').out, 'xab2x');
  assert.equal(run([['foo', '']], 'afoob').out, 'ab');
});

test('every split of the body, down to single bytes, gives the same output as the whole', () => {
  const cases: Array<[Array<[string, string]>, string]> = [
    [[['abpattternyz', '+'], ['abpattxernyz', '-']], 'abpattxernyzABCDEFGHIJabpattternyz'.repeat(3)],
    [[['0123456789abcdef'.repeat(17), '+'], ['01ef', '-'], ['_', '*']], ('01efA_Z' + '0123456789abcdef'.repeat(17)).repeat(2)],
    [[['aab', '+'], ['yyz', '-']], 'aaabyyyzaab'],
    [[['模様', 'Z']], 'ТЕКСТ模様ТЕКСТ模'],
  ];
  for (const [pairs, body] of cases) {
    const whole = run(pairs, body).out;
    assert.equal(whole, reference(pairs, body));
    const n = Buffer.byteLength(body);
    const every = Array.from({ length: n - 1 }, (_, i) => i + 1);
    assert.equal(run(pairs, body, every).out, whole, `split at every byte: ${body.slice(0, 20)}`);
    for (let cut = 1; cut < n; cut++) assert.equal(run(pairs, body, [cut]).out, whole);
  }
});

test('random bodies and patterns agree with the plain definition, split anywhere', () => {
  let seed = 12345;
  const rnd = (k: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % k; };
  const alphabet = 'abAB';
  const word = (len: number): string => Array.from({ length: len }, () => alphabet[rnd(alphabet.length)]).join('');
  for (let iter = 0; iter < 400; iter++) {
    const pairs: Array<[string, string]> = Array.from({ length: 1 + rnd(3) }, (_, i) => [word(1 + rnd(4)), `<${i}>`]);
    const body = word(rnd(30));
    const once = rnd(2) === 1;
    const cuts = [...new Set(Array.from({ length: rnd(5) }, () => rnd(body.length + 1)))].sort((a, b) => a - b);
    assert.equal(run(pairs, body, cuts, once).out, reference(pairs, body, once), JSON.stringify({ pairs, body, cuts, once }));
  }
});

test('between writes only a possible match is held: the rest goes on at once', () => {
  // "xyz" against "za": only "z" may begin a match; against "ab": nothing is held.
  assert.deepEqual(run([['za', 'ZA']], 'xyz').heldAfter, [2]);
  assert.deepEqual(run([['ab', 'AB']], 'xyz').heldAfter, [3]);
  // A long pattern's prefix is held whole, and goes out as it is at the end.
  const r = run([['abcdefgh', '+']], 'xxabcdef', []);
  assert.deepEqual(r.heldAfter, [2]);
  assert.equal(r.out, 'xxabcdef');
});
