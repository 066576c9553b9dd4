// The postpone filter's order: a request's own bytes and its subrequests' places, written as soon
// as everything before them is complete; the sink ends once, when the whole tree has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { postponedOutput } from '../../../src/http/subrequest.js';

function sink(): { out: string[]; ended: number; writer: { write(b: Buffer): boolean; end(): void } } {
  const s = { out: [] as string[], ended: 0, writer: { write: (b: Buffer) => { s.out.push(b.toString()); return true; }, end: () => { s.ended++; } } };
  return s;
}
const b = (s: string): Buffer => Buffer.from(s);

test('bytes after a pending subrequest wait for it; its own bytes go out once it is first', () => {
  const s = sink();
  const top = postponedOutput(s.writer, () => true);
  top.write(b('A'));
  const slow = top.child();
  top.write(b('B'));
  const fast = top.child();
  top.write(b('C'));
  fast.write(b('[fast]'));
  fast.end();
  assert.deepEqual(s.out, ['A'], 'nothing passes the slow one');
  slow.write(b('[sl'));
  assert.deepEqual(s.out, ['A', '[sl'], 'the first pending one streams');
  slow.write(b('ow]'));
  top.end();
  assert.equal(s.ended, 0);
  slow.end();
  assert.equal(s.out.join(''), 'A[slow]B[fast]C');
  assert.equal(s.ended, 1);
});

test('nested subrequests keep document order; the sink ends after the last of them', () => {
  const s = sink();
  const top = postponedOutput(s.writer, () => true);
  const a = top.child();
  top.write(b('|'));
  const a1 = a.child();
  a.write(b('a'));
  top.end();
  a.end();
  assert.deepEqual(s.out, [], 'a waits for its own child');
  a1.write(b('a1'));
  a1.end();
  assert.equal(s.out.join(''), 'a1a|');
  assert.equal(s.ended, 1);
});

test('a write returns what the client can take, whether it went out or waits', () => {
  const s = sink();
  let room = true;
  const top = postponedOutput(s.writer, () => room);
  const c = top.child();
  room = false;
  assert.equal(top.write(b('x')), false);
  room = true;
  assert.equal(c.write(b('y')), true);
  c.end();
  top.end();
  assert.equal(s.out.join(''), 'yx');
});
