import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BodyFilterChain } from '../../../src/http/body-filters.js';
import type { BodyWriter } from '../../../src/http/client-reply.js';

/** A filter that tags each chunk with its name, as the chain passes it on. */
function tagging(name: string) {
  return (next: BodyWriter): BodyWriter => ({
    write: (chunk) => next.write(Buffer.concat([chunk, Buffer.from(name)])),
    end: () => next.end(),
  });
}

test('body filters run in the order they were added, over the tail', () => {
  const chain = new BodyFilterChain();
  chain.add(tagging('a'));
  chain.add(tagging('b'));
  const got: string[] = [];
  let ended = false;
  const head = chain.build({ write: (c) => { got.push(c.toString()); return true; }, end: () => { ended = true; } });
  assert.equal(chain.head, head);
  head.write(Buffer.from('x'));
  head.end();
  assert.deepEqual(got, ['xab']);
  assert.equal(ended, true);
});

test('a chain is built once, and takes no filter after', () => {
  const chain = new BodyFilterChain();
  const tail: BodyWriter = { write: () => true, end: () => {} };
  assert.equal(chain.build(tail), tail);
  assert.equal(chain.head, null, 'an empty chain has no head: the reply writes on its own');
  chain.add(tagging('a'));
  const head = chain.build(tail);
  assert.notEqual(head, tail);
  assert.equal(chain.build(tail), head);
  assert.throws(() => chain.add(tagging('b')), /after the body began/);
});
