// The R-rows about the request head, sent as raw bytes to a real node:http server whose
// request handler runs validateRequestHead and whose clientError handler answers 400 + close.
// Each case checks the status and that the server closed the connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { Socket } from 'node:net';
import { validateRequestHead, type RequestHeadOptions } from '../../../src/http/request-validation.js';

interface Harness { server: http.Server; port: number; reasons: string[] }

function startHarness(options: RequestHeadOptions): Promise<Harness> {
  const reasons: string[] = [];
  // Sockets that already got our error response: a later parse error must not answer twice.
  const answered = new WeakSet<Socket>();
  // Requests in flight per socket, and sockets whose next bytes failed to parse while one was:
  // the 400 for the garbage must follow the earlier response, not overtake it (as nginx).
  const inFlight = new WeakMap<Socket, number>();
  const deferred400 = new WeakSet<Socket>();
  const server = http.createServer({ requireHostHeader: false }, (req, res) => {
    const sock = req.socket;
    inFlight.set(sock, (inFlight.get(sock) ?? 0) + 1);
    res.on('finish', () => {
      const n = (inFlight.get(sock) ?? 1) - 1;
      inFlight.set(sock, n);
      if (n === 0 && deferred400.has(sock) && !answered.has(sock)) {
        answered.add(sock);
        sock.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      }
    });
    const r = validateRequestHead(req.method ?? '', req.httpVersionMajor, req.httpVersionMinor, req.url ?? '',
      req.rawHeaders, options);
    if (r.status !== 0) {
      reasons.push(r.reason);
      answered.add(req.socket);
      const body = `${r.status}\n`;
      res.writeHead(r.status, { 'Content-Type': 'text/plain', 'Content-Length': body.length, Connection: 'close' });
      res.end(body);
      return;
    }
    let bodyLen = 0;
    req.on('data', (d: Buffer) => { bodyLen += d.length; });
    req.on('end', () => {
      const dropped = r.dropHeaders?.map((i) => req.rawHeaders[i]) ?? [];
      const body = JSON.stringify({ host: r.host, port: r.port, cl: r.contentLength, chunked: r.chunked, target: r.target,
        absolute: r.absoluteForm, dropped, bodyLen });
      // Connection: close keeps the harness fast; keep-alive is not what these rows test.
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
      res.end(body);
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    reasons.push(`node: ${err.code ?? 'unknown'}`);
    if (answered.has(socket) || !socket.writable) {
      socket.end();
      return;
    }
    if ((inFlight.get(socket) ?? 0) > 0) {
      deferred400.add(socket);
      return;
    }
    answered.add(socket);
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a !== null ? a.port : 0, reasons });
    });
  });
}

interface Reply { statuses: number[]; body: string; closed: boolean }

function send(port: number, bytes: string): Promise<Reply> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const statuses = [...data.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      const bodyAt = data.indexOf('\r\n\r\n');
      resolve({ statuses, body: bodyAt >= 0 ? data.slice(bodyAt + 4) : '', closed });
    };
    const timer = setTimeout(() => finish(false), 2000);
    s.on('data', (d: Buffer) => { data += d.toString('latin1'); });
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    s.write(Buffer.from(bytes, 'latin1'));
  });
}

const P = 'POST / HTTP/1.1\r\nHost: a\r\n';
const G = 'GET / HTTP/1.1\r\nHost: a\r\n';
const CH = '\r\n\r\n0\r\n\r\n';

// [row, request bytes, expected first status, extra check on the JSON body]
// (a list of statuses when the bytes after the head are parsed as a next request)
type Case = [string, string, number | number[], ((b: Record<string, unknown>) => void)?];
const cases: Case[] = [
  ['R1 CL then TE', `${P}Content-Length: 5\r\nTransfer-Encoding: chunked${CH}`, 400],
  ['R1 TE then CL', `${P}Transfer-Encoding: chunked\r\nContent-Length: 5${CH}`, 400],
  ['R2 CL 0 + CL 31', `${P}Content-Length: 0\r\nContent-Length: 31\r\n\r\n`, 400],
  ['R2 CL 5 twice', `${P}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, 400],
  ['R2 CL 5, 5', `${P}Content-Length: 5, 5\r\n\r\nhello`, 400],
  ...['+5', '-1', '0x5', '5a', '1e3', '', '99999999999999999999'].map(
    (cl): Case => [`R3 CL ${JSON.stringify(cl)}`, `${P}Content-Length: ${cl}\r\n\r\nhello`, 400]),
  ['R4 CL 010', `${P}Content-Length: 010\r\n\r\n0123456789`, 200, (b) => { assert.equal(b.cl, 10); assert.equal(b.bodyLen, 10); }],
  ...['identity', 'gzip, chunked', 'identity, chunked'].map(
    (te): Case => [`R5 TE ${te} (Node accepts)`, `${P}Transfer-Encoding: ${te}${CH}`, 501]),
  ...['chunked, identity', 'identity, chunked, identity'].map(
    (te): Case => [`R5 TE ${te} (Node rejects)`, `${P}Transfer-Encoding: ${te}${CH}`, 400]),
  ...[',chunked', '"chunked"', "'chunked'", 'chunk'].map(
    (te): Case => [`R6 TE ${te} (Node accepts; we answer 400 as R6 asks, nginx 501)`, `${P}Transfer-Encoding: ${te}${CH}`, 400]),
  ...['chunked, chunked', 'chunked,', 'chunked\x0b', 'chunked\x0c', 'chunked\x00', 'chunked\x7f'].map(
    (te): Case => [`R6 TE ${JSON.stringify(te)}`, `${P}Transfer-Encoding: ${te}${CH}`, 400]),
  ['R6 TE Chunked (case-insensitive)', `${P}Transfer-Encoding: Chunked${CH}`, 200, (b) => assert.equal(b.chunked, true)],
  ['R7 TE chunked twice', `${P}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked${CH}`, 400],
  ['R7 TE identity + chunked (Node accepts)', `${P}Transfer-Encoding: identity\r\nTransfer-Encoding: chunked${CH}`, 400],
  ['R7 TE chunked + identity', `${P}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity${CH}`, 400],
  ['R8 TE on HTTP/1.0 (Node accepts)', `POST / HTTP/1.0\r\nTransfer-Encoding: chunked${CH}`, 400],
  ['R9 space before colon', `${P}Transfer-Encoding : chunked${CH}`, 400],
  ['R9 tab before colon', `${P}Transfer-Encoding\t: chunked${CH}`, 400],
  ['R9 LF before colon', `${P}Transfer-Encoding\n : chunked${CH}`, 400],
  // The dropped TE leaves "0\r\n\r\n" to be parsed as the next request; Node reports it
  // through clientError while the first request is still in flight. The harness defers that
  // 400 behind the first response, whose Connection: close then ends the connection first.
  ['R10 Transfer_Encoding dropped', `${P}Transfer_Encoding: chunked${CH}`, 200,
    (b) => { assert.deepEqual(b.dropped, ['Transfer_Encoding']); assert.equal(b.chunked, false); assert.equal(b.bodyLen, 0); }],
  ['R10 Transfer-%45ncoding dropped', `${P}Transfer-%45ncoding: chunked${CH}`, 200,
    (b) => assert.deepEqual(b.dropped, ['Transfer-%45ncoding'])],
  ['R10 Transfer Encoding', `${P}Transfer Encoding: chunked${CH}`, 400],
  ['R10 Transf\\x82r-Encoding', `${P}Transf\x82r-Encoding: chunked${CH}`, 400],
  ['R11 obs-fold', `${P}X: a\r\n Transfer-Encoding: chunked${CH}`, 400],
  ['R11 tabwrap', `${P}Transfer-Encoding:\r\n chunked${CH}`, 400],
  ['R12 bare CR', `${P}Foo: bar\rTransfer-Encoding: chunked${CH}`, 400],
  ['R12 bare LF in header', `${P}Foo: bar\nTransfer-Encoding: chunked${CH}`, 400],
  ['R12 bare LF everywhere', 'GET / HTTP/1.1\nHost: a\n\n', 400],
  ['R13 NUL in Host', 'GET / HTTP/1.1\r\nHost: a\x00.evil\r\n\r\n', 400],
  ['R13 DEL in value', `${G}X: a\x7fb\r\n\r\n`, 400],
  ['R13 VT in value', `${G}X: a\x0bb\r\n\r\n`, 400],
  ['R14 empty name', `${G}: x\r\n\r\n`, 400],
  ['R14 space in name', `${G}X Y: z\r\n\r\n`, 400],
  ['R14 @ in name', `${G}X@: z\r\n\r\n`, 400],
  ['R14 \\x85 in name', `${G}Header\x85: v\r\n\r\n`, 400],
  ['R14 no colon', `${G}Te\nst: x\r\n\r\n`, 400],
  ['R19 absolute-form', 'GET http://b/x?y HTTP/1.1\r\nHost: a\r\n\r\n', 200,
    (b) => { assert.equal(b.host, 'b'); assert.equal(b.target, '/x?y'); assert.equal(b.absolute, true); }],
  ['R19 absolute-form userinfo', 'GET http://u@b/ HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ['R20 duplicate Host', `${G}Host: b\r\n\r\n`, 400],
  ['R20 empty Host', 'GET / HTTP/1.1\r\nHost: \r\n\r\n', 400],
  ['R20 Host a b', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400],
  ['R20 Host a/b', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', 400],
  ['R20 Host example.com.:1.2', 'GET / HTTP/1.1\r\nHost: example.com.:1.2\r\n\r\n', 400],
  ['R20 Host a..b', 'GET / HTTP/1.1\r\nHost: a..b\r\n\r\n', 400],
  ['R20 no Host on 1.1', 'GET / HTTP/1.1\r\n\r\n', 400],
  ['R20 no Host on 1.0', 'GET / HTTP/1.0\r\n\r\n', 200, (b) => assert.equal(b.host, '')],
  ['R20 Host normalised', 'GET / HTTP/1.1\r\nHost: Example.COM.:8080\r\n\r\n', 200,
    (b) => { assert.equal(b.host, 'example.com'); assert.equal(b.port, 8080); }],
  ['R21 HTTP/2.0 (Node accepts)', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505],
  ['R21 HTTP/1.2', 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', 400],
  ['R21 HTTP/0.9 with headers (Node accepts)', 'GET / HTTP/0.9\r\nHost: a\r\n\r\n', 400],
  ['R21 http/1.1', 'GET / http/1.1\r\nHost: a\r\n\r\n', 400],
  ['R21 two spaces (nginx accepts too)', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n', 200],
  ['R21 tabs', 'GET\t/\tHTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ['R21 space in target', 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ['R21 CTL in target', 'GET /\x02 HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ['R21 GET * (Node accepts)', 'GET * HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ['R21 GET a.b:80', 'GET a.b:80 HTTP/1.1\r\nHost: a\r\n\r\n', 400],
  ['R21 TRACE', 'TRACE / HTTP/1.1\r\nHost: a\r\n\r\n', 405],
  ['R30 1001 headers (Node accepts)', G + Array.from({ length: 1000 }, (_, i) => `X-${i}: v\r\n`).join('') + '\r\n', 400],
  ['R30 9 KiB header line (Node accepts)', `${G}X: ${'a'.repeat(9 * 1024)}\r\n\r\n`, 400],
  ['R30 33 KiB of headers', G + Array.from({ length: 33 }, (_, i) => `X-${i}: ${'a'.repeat(1020)}\r\n`).join('') + '\r\n', 400],
];

let h: Harness;
let strict: Harness;
before(async () => {
  h = await startHarness({ underscoresInHeaders: false, ignoreInvalidHeaders: true });
  strict = await startHarness({ underscoresInHeaders: false, ignoreInvalidHeaders: false });
});
after(() => {
  h.server.close();
  strict.server.close();
});

test('R-rows on a real node:http server', async () => {
  const replies = await Promise.all(cases.map(([, bytes]) => send(h.port, bytes)));
  const failures: string[] = [];
  cases.forEach(([row, , status, check], i) => {
    const r = replies[i]!;
    const want = Array.isArray(status) ? status : [status];
    if (r.statuses.join(',') !== want.join(',')) failures.push(`${row}: expected ${want.join(',')}, got ${r.statuses.join(',') || 'nothing'}`);
    if (!r.closed) failures.push(`${row}: connection left open`);
    if (check !== undefined && r.statuses[0] === 200) {
      const body = r.body.slice(0, r.body.indexOf('}') + 1);
      try { check(JSON.parse(body) as Record<string, unknown>); } catch (e) { failures.push(`${row}: ${String(e)}`); }
    }
  });
  assert.deepEqual(failures, []);
});

test('R10 with ignore_invalid_headers off: underscore name folding to a framing header is 400', async () => {
  const r = await send(strict.port, `${P}Transfer_Encoding: chunked${CH}`);
  assert.deepEqual(r.statuses, [400]);
  assert.ok(r.closed);
  assert.ok(strict.reasons.includes('client sent invalid header line: "Transfer_Encoding: chunked"'));
  const k = await send(strict.port, `${G}X_Custom: 1\r\n\r\n`);
  assert.deepEqual(k.statuses, [200]);
});

test('our reasons reach the log, Node-side rejections are tagged', () => {
  assert.ok(h.reasons.includes('client sent HTTP/1.0 request with "Transfer-Encoding" header'));
  assert.ok(h.reasons.includes('client sent invalid version'));
  assert.ok(h.reasons.some((x) => x.startsWith('client sent duplicate host header')));
  assert.ok(h.reasons.includes('node: HPE_HEADER_OVERFLOW'));
});
