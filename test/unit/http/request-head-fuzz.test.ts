// Differential fuzz of RequestHeadParser against node's llhttp (the parser
// weir used before, through node:http), on request heads mutated from a
// seeded PRNG. Whenever one side accepts a head, the other accepts it with
// the same method, url, version, rawHeaders and end, or the difference is one
// of ALLOWED below. Where a difference is only about one part of the head,
// that part is normalised and the two are compared again, so one known
// difference cannot hide another.
//
// Reproduce a failure with FUZZ_SEED=<seed printed> (and FUZZ_CASES=<n>).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestHeadParser, HEAD_AGAIN, HEAD_ERROR } from '../../../src/http/h1/request-head.js';
import { validateRequestHead } from '../../../src/http/request-validation.js';
import { seeded } from '../../helpers/seeded.js';
import { needs } from '../../helpers/require.js';

/** The differences with llhttp that are intended; the key is what the counts report. */
const ALLOWED = {
  // --- we accept, llhttp refuses
  /** nginx takes any [A-Z_-]+ method; llhttp knows a fixed list (RTSP's, like GET_PARAMETER, only
   *  with an RTSP version), and keeps PRI for the HTTP/2 preface (`PRI * HTTP/2.0`, 505 from validateRequestHead here). Compared again with GET. */
  unknownMethod: 'a method of [A-Z_-]+ llhttp does not know (or PRI)',
  /** llhttp takes 0.9, 1.0, 1.1 and 2.0 written with one digit each; nginx takes any 1.x with a
   *  minor up to 100 (1.2 served as 1.1). Compared again as HTTP/1.1. */
  version: 'a version llhttp does not take (1.2, 1.01, 1.10)',
  /** nginx passes bytes >= 0x80 in the target; llhttp refuses them. Compared again with `x` for them. */
  targetHighBytes: 'bytes >= 0x80 in the request target',
  /** An absolute-form scheme with digits, `+`, `-` or `.` (RFC 3986, nginx's grammar); llhttp takes
   *  letters only. Compared again with `http`. */
  schemeChars: 'a scheme of RFC 3986 characters other than letters',
  /** llhttp's URL grammar refuses a target whose form validateRequestHead refuses too, on the
   *  request line alone (`a.b:80`, `?x`, `%/`, CONNECT's 405). */
  targetForm: 'a target form llhttp refuses and validateRequestHead refuses too',
  /** llhttp checks Content-Length and Transfer-Encoding while parsing; validateRequestHead does it
   *  for us, after the parser: it must refuse these header lines, on their own, with a
   *  Content-Length / Transfer-Encoding reason. */
  framing: 'Content-Length / Transfer-Encoding refused by llhttp, and by validateRequestHead',
  /** A Content-Length or Transfer-Encoding value followed by HTAB: OWS (RFC 9110 ยง5.5), trimmed by
   *  nginx and by us, but llhttp refuses it (it takes a trailing SP). Compared again without it. */
  framingTrailingTab: 'a Content-Length / Transfer-Encoding value followed by HTAB',
  /** A bare LF ends a line in nginx (RFC 9112 ง2.2), and a header line may end in several CRs
   *  before its LF; llhttp, strict, wants CRLF. Compared again with CRLF for them. */
  lineEnd: 'a bare LF, or CRs before the LF, ending a line of the head',
  /** SP after the version: nginx skips it; llhttp refuses. Compared again without it. */
  trailingSpace: 'SP between the version and the line end',
  /** A header line whose name is not a token, or with no colon: nginx keeps it for
   *  ignore_invalid_headers (validateRequestHead drops it, or a colon-less token is a header with
   *  an empty value); llhttp refuses the head. Compared again without those lines. */
  oddHeaderLine: 'a header line with a non-token name or no colon',
  /** `GET /` with no version: nginx reads a 0.9 request line and no headers; llhttp reads 0.9
   *  with headers. Ours must end at that line, with no headers. */
  http09: 'HTTP/0.9 (no version)',
  // --- llhttp accepts, we refuse
  /** A version written as 0.x or with a major above 1 (`HTTP/2.0` over HTTP/1): nginx refuses it on
   *  the request line (400 / 505); llhttp takes 0.9 and 2.0. */
  versionRefused: 'HTTP/0.x, or a major version above 1',
  /** nginx's request target starts with `/` or a scheme letter (CONNECT aside): `OPTIONS *` is 400. */
  targetStart: 'a target starting with neither / nor a letter (OPTIONS *)',
} as const;
type Kind = keyof typeof ALLOWED;

// ---------------------------------------------------------------- llhttp

interface LlError extends Error {
  code: string;
  bytesParsed: number;
}
interface LlParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | LlError;
  [callback: number]: unknown;
}
interface LlBinding {
  HTTPParser: {
    new (): LlParser;
    REQUEST: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
    kOnExecute: number;
    kLenientNone: number;
  };
  /** the HTTP methods llhttp knows (allMethods adds RTSP's, refused with an HTTP version) */
  methods: string[];
  allMethods: string[];
}

function loadLlhttp(): LlBinding | null {
  // process.binding is deprecated (DEP0111) but still the way to reach llhttp
  // directly; the warning is silenced for this one call.
  const saved = process.noDeprecation;
  process.noDeprecation = true;
  try {
    const b = (process as unknown as { binding(name: string): Partial<LlBinding> }).binding('http_parser');
    return typeof b.HTTPParser === 'function' && Array.isArray(b.methods) ? b as LlBinding : null;
  } catch {
    return null;
  } finally {
    process.noDeprecation = saved;
  }
}

interface Head {
  method: string;
  url: string;
  major: number;
  minor: number;
  raw: string[];
  /** index just after the head */
  end: number;
}
type Result =
  | { rc: 'ok'; head: Head }
  | { rc: 'again' }
  | { rc: 'error'; why: string };

/** llhttp as node:http's server ran it: the verdict on the head at the start of input. */
function makeLlhttp({ HTTPParser, allMethods }: LlBinding): (input: Buffer) => Result {
  let head: Head | null = null;
  let headers: string[] = [];
  let url = '';
  let ret = 0;
  const parser = new HTTPParser();
  // node's _http_common.js callbacks: headers and url come in pieces when the head is fragmented
  parser[HTTPParser.kOnHeaders] = (h: string[], u: string): void => {
    headers.push(...h);
    url += u;
  };
  parser[HTTPParser.kOnHeadersComplete] = (major: number, minor: number, h: string[] | undefined, method: number,
    u: string | undefined): number => {
    head = { method: allMethods[method]!, url: u ?? url, major, minor, raw: h ?? headers, end: -1 };
    return ret;
  };
  const noop = (): void => {};
  parser[HTTPParser.kOnBody] = noop;
  parser[HTTPParser.kOnMessageComplete] = noop;
  parser[HTTPParser.kOnExecute] = noop;

  const execute = (input: Buffer, onHeadersComplete: number): number | LlError => {
    head = null;
    headers = [];
    url = '';
    ret = onHeadersComplete;
    // node:http's server settings: the default max header size, no leniency
    parser.initialize(HTTPParser.REQUEST, {}, 0, HTTPParser.kLenientNone);
    return parser.execute(input);
  };

  return (input) => {
    // Returning 2 (upgrade) from on_headers_complete stops llhttp after the head: the index after it.
    const first = execute(input, 2);
    if (first instanceof Error) return { rc: 'error', why: first.code };
    const complete: Head | null = head;
    if (complete === null) return { rc: 'again' };
    complete.end = first;
    // Some checks (Transfer-Encoding on a request) come after on_headers_complete returns 0: run
    // the head alone again that way (what follows it, body or next request, is not compared).
    const second = execute(input.subarray(0, first), 0);
    if (second instanceof Error) return { rc: 'error', why: second.code };
    return { rc: 'ok', head: complete };
  };
}

const binding = loadLlhttp();
const SKIP = needs('llhttp', binding !== null, 'not reachable through process.binding(\'http_parser\') in this node');
const llMethods = new Set(binding?.methods ?? []);
const llhttp = binding === null
  ? (): Result => {
    throw new Error(String(SKIP));
  }
  : makeLlhttp(binding);

// ---------------------------------------------------------------- ours

const LIMITS = { bufferSize: 8192, bufferCount: 4 };

function ours(input: Buffer, cuts: number[] = []): Result {
  const p = new RequestHeadParser(LIMITS);
  let from = 0;
  for (const to of [...cuts, input.length]) {
    const rc = p.execute(input.subarray(0, to), from);
    if (rc === HEAD_ERROR) return { rc: 'error', why: `${p.status} ${p.reason} while ${p.action}` };
    if (rc !== HEAD_AGAIN) {
      return {
        rc: 'ok',
        head: { method: p.method, url: p.url, major: p.versionMajor, minor: p.versionMinor, raw: p.rawHeaders, end: rc },
      };
    }
    from = to;
  }
  return { rc: 'again' };
}

const OPTIONS = { underscoresInHeaders: false, ignoreInvalidHeaders: true };

/** validateRequestHead refuses the request line alone (with a plain Host header). */
function requestLineRefused(h: Head): boolean {
  const v = validateRequestHead(h.method, 1, 1, h.url, ['Host', 'a'], OPTIONS);
  return v.status !== 0 && v.action === 'reading client request line';
}

/** validateRequestHead refuses the framing header lines alone (in `POST / HTTP/1.x` with a plain Host). */
function framingRefused(h: Head): boolean {
  const raw: string[] = ['Host', 'a'];
  for (let i = 0; i < h.raw.length; i += 2) {
    const name = h.raw[i]!.toLowerCase();
    if (name === 'content-length' || name === 'transfer-encoding') raw.push(h.raw[i]!, h.raw[i + 1]!);
  }
  const v = validateRequestHead('POST', 1, h.major === 1 ? h.minor : 1, '/', raw, OPTIONS);
  return v.status !== 0 && /Content-Length|Transfer-Encoding/i.test(v.reason);
}

// ---------------------------------------------------------------- comparison

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const isCrOrLf = (c: number | undefined): boolean => c === 13 || c === 10;

/** Where the request line starts: after any CR and LF. */
function lineStart(input: Buffer): number {
  let i = 0;
  while (isCrOrLf(input[i])) i++;
  return i;
}

function splice(input: Buffer, from: number, to: number, text: string): Buffer {
  return Buffer.concat([input.subarray(0, from), Buffer.from(text, 'latin1'), input.subarray(to)]);
}

const show = (r: Result): string => JSON.stringify(r);

/**
 * Compares both parsers on `input`; adds the ALLOWED kinds used to `kinds`
 * and throws (with `label`) on any other difference.
 */
function compare(input: Buffer, kinds: Kind[], label: string, depth = 0): void {
  const a = ours(input);
  const b = llhttp(input);
  const fail = (what: string): never => {
    assert.fail(`${label}: ${what}\n  input: ${JSON.stringify(input.toString('latin1'))}\n  ours:  ${show(a)}\n`
      + `  llhttp: ${show(b)}\n  allowed so far: ${kinds.join(', ') || '-'}`);
  };
  if (depth > 8) fail('too many normalisations');
  const again = (next: Buffer, kind?: Kind): void => {
    if (kind !== undefined) kinds.push(kind);
    compare(next, kinds, label, depth + 1);
  };

  if (a.rc === 'again' && b.rc === 'again') return;
  if (a.rc === 'ok' && a.head.major === 0) {
    // HTTP/0.9: the head is the request line alone
    const lf = input.indexOf(10, lineStart(input));
    if (a.head.raw.length !== 0 || a.head.end !== lf + 1 || a.head.method !== 'GET') fail('a 0.9 head with more than its line');
    kinds.push('http09');
    return;
  }
  if (a.rc === 'ok' && b.rc === 'error') {
    // nginx's leniencies on line ends, normalised before anything else
    const head = input.toString('latin1', 0, a.head.end);
    const crlf = head.replace(/\r*\n/g, '\r\n');
    if (crlf !== head) return again(splice(input, 0, a.head.end, crlf), 'lineEnd');
    const start = lineStart(input);
    const lf = input.indexOf(13, start);
    const line = input.toString('latin1', start, lf);
    if (line.endsWith(' ')) return again(splice(input, start, lf, line.trimEnd()), 'trailingSpace');
    const block = head.slice(lf + 2, -2);
    const lines = block === '' ? [] : block.slice(0, -2).split('\r\n');
    const kept = lines.filter((l) => /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:/.test(l));
    if (kept.length !== lines.length) {
      const rest = kept.map((l) => l + '\r\n').join('');
      return again(splice(input, lf + 2, a.head.end - 2, rest), 'oddHeaderLine');
    }
  }
  if (a.rc === 'again' || b.rc === 'again') {
    // One side has judged bytes the other still waits for: finish the head and judge again.
    again(Buffer.concat([input, CRLFCRLF]));
    return;
  }
  if (a.rc === 'error' && b.rc === 'error') return;

  if (a.rc === 'ok' && b.rc === 'ok') {
    const x = a.head;
    const y = b.head;
    if (x.method !== y.method || x.url !== y.url || x.major !== y.major || x.minor !== y.minor || x.end !== y.end) {
      fail('both accept, different heads');
    }
    assert.deepEqual(x.raw, y.raw, `${label}: rawHeaders differ for ${JSON.stringify(input.toString('latin1'))}`);
    return;
  }

  if (a.rc === 'ok' && b.rc === 'error') {
    const h = a.head;
    const start = lineStart(input);
    const methodEnd = start + h.method.length;
    const targetStart = methodEnd + 1;
    const targetEnd = targetStart + h.url.length;
    const versionEnd = input.indexOf(13, targetEnd);
    if (!/^[A-Z_-]+$/.test(h.method)) fail('a method outside nginx\'s alphabet');
    if (!llMethods.has(h.method) || h.method === 'PRI') return again(splice(input, start, methodEnd, 'GET'), 'unknownMethod');
    const version = input.toString('latin1', targetEnd + 1, versionEnd);
    if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0' && version !== 'HTTP/2.0') {
      return again(splice(input, targetEnd + 1, versionEnd, 'HTTP/1.1'), 'version');
    }
    let high = false;
    const copy = Buffer.from(input);
    for (let i = targetStart; i < targetEnd; i++) {
      if (copy[i]! >= 0x80) {
        copy[i] = 0x78;
        high = true;
      }
    }
    if (high) return again(copy, 'targetHighBytes');
    const scheme = /^[A-Za-z][A-Za-z0-9+.-]*(?=:\/\/)/.exec(h.url);
    if (scheme !== null && /[^A-Za-z]/.test(scheme[0])) {
      return again(splice(input, targetStart, targetStart + scheme[0].length, 'http'), 'schemeChars');
    }
    if (b.why === 'HPE_INVALID_CONTENT_LENGTH' || b.why === 'HPE_INVALID_TRANSFER_ENCODING') {
      const text = input.toString('latin1', 0, h.end);
      const trimmed = text.replace(/(\n(?:content-length|transfer-encoding):[^\r\n]*?)[ \t]+(?=\r\n)/gi, '$1');
      if (trimmed !== text) return again(splice(input, 0, h.end, trimmed), 'framingTrailingTab');
    }
    if (b.why === 'HPE_INVALID_URL' && requestLineRefused(h)) {
      kinds.push('targetForm');
      return;
    }
    if ((b.why === 'HPE_INVALID_CONTENT_LENGTH' || b.why === 'HPE_UNEXPECTED_CONTENT_LENGTH'
      || b.why === 'HPE_INVALID_TRANSFER_ENCODING') && framingRefused(h)) {
      kinds.push('framing');
      return;
    }
    fail('we accept a head llhttp refuses');
  }

  // we refuse a head llhttp accepts
  assert.ok(b.rc === 'ok' && a.rc === 'error');
  if ((b.head.major === 0 && /^400 /.test(a.why)) || (b.head.major > 1 && /^505 /.test(a.why))) {
    kinds.push('versionRefused');
    return;
  }
  if (/^[^/A-Za-z]/.test(b.head.url) && b.head.method !== 'CONNECT' && /^400 client sent invalid request /.test(a.why)) {
    kinds.push('targetStart');
    return;
  }
  fail('we refuse a head llhttp accepts');
}

// ---------------------------------------------------------------- generation

const BASES = [
  'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n',
  'GET /a/b?c=d&e=f HTTP/1.1\r\nHost: a\r\nUser-Agent: x/1.0\r\nAccept: */*\r\n\r\n',
  'POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello',
  'PUT /x HTTP/1.0\r\nContent-Length: 0\r\n\r\n',
  'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'DELETE http://b:8080/p HTTP/1.1\r\nHost: b\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\n\r\n',
  'HEAD / HTTP/1.1\r\nHost: a\r\nCookie: a=b; c=d\r\nIf-None-Match: "x"\r\n\r\n',
  'PATCH /p HTTP/1.1\r\nHost: a\r\nX_Under: 1\r\nX-Empty:\r\nX-Sp:  v \t\r\n\r\n',
  'GET /caf\xe9 HTTP/1.1\r\nHost: a\r\nX-Latin: caf\xe9\r\n\r\n',
];
const BYTES = [' ', '\t', '\r', '\n', '\x00', ':', '\x80', '\xff', '\x7f', '\x0b', '/', '@', '_', '-', 'a', 'Z', '"',
  '?', '#', '%', '*', '.', ',', '\r\n', '0', '9'];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'http/1.1', 'HTTP/1.10', 'HTTP/11.1',
  'HTTP/1', 'HTTP/1.1 ', 'HTTP/3.0', 'HTTP/1.01', 'HTTP/01.1', 'HTTP/1000.1', 'HTTPS/1.1', '', 'HTTP/2', 'HTTP/1.1\t'];
const METHODS = ['GET', 'POST', 'M-SEARCH', 'PURGE', 'QUERY', 'GET_PARAMETER', 'FOO', 'get', 'G ET', 'CONNECT', 'PRI',
  'SOURCE', 'X-Y_Z', 'ACL', 'MKCALENDAR', 'TRACE', 'HEAD', 'GETT', 'PO'];
const LINES = ['Transfer-Encoding: chunked', 'Content-Length: 5', 'Content-Length: 5, 5', 'Content-Length: -1',
  'Transfer_Encoding: chunked', 'Host: b', 'X: a\x80b', ' folded', '\tfolded', 'X@: y', 'NoColon', ': empty',
  'X : y', 'HTTP/1.1 200 OK', 'Connection: close', 'Transfer-Encoding: gzip, chunked', 'Expect: 100-continue', 'X:',
  'Content-Length: 05', 'Transfer-Encoding: identity', 'X-\xe9: 1', 'Connection: keep-alive, Upgrade'];
const LEADING = ['\r\n', '\n', '\r', '\r\n\r\n', '\n\r\n', '\r\r\n'];

function mutate(input: string, rand: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const at = (): number => Math.floor(rand() * (input.length + 1));
  const firstLine = (): [number, number] => {
    const s = input.search(/[^\r\n]/);
    const e = input.indexOf('\r\n', s);
    return [s < 0 ? 0 : s, e < 0 ? input.length : e];
  };
  switch (Math.floor(rand() * 10)) {
    case 0: {
      const i = at();
      return input.slice(0, i) + pick(BYTES) + input.slice(i);
    }
    case 1: {
      const i = at();
      return input.slice(0, i) + pick(BYTES) + input.slice(i + 1);
    }
    case 2: {
      const i = at();
      return input.slice(0, i) + input.slice(i + 1 + Math.floor(rand() * 3));
    }
    case 3: {
      const lines = input.split('\r\n');
      const i = Math.floor(rand() * lines.length);
      lines.splice(i, 0, lines[i]!);
      return lines.join('\r\n');
    }
    case 4: {
      const i = at();
      const n = 1 + Math.floor(rand() * 8);
      const part = input.slice(i, i + n);
      const flipped = rand() < 0.5 ? part.toLowerCase() : part.toUpperCase();
      return input.slice(0, i) + flipped + input.slice(i + n);
    }
    case 5: {
      const [s, e] = firstLine();
      const line = input.slice(s, e);
      const sp = line.lastIndexOf(' ');
      return input.slice(0, s) + line.slice(0, sp + 1) + pick(VERSIONS) + input.slice(e);
    }
    case 6: {
      const [s, e] = firstLine();
      const line = input.slice(s, e);
      const sp = line.indexOf(' ');
      return input.slice(0, s) + pick(METHODS) + line.slice(sp < 0 ? line.length : sp) + input.slice(e);
    }
    case 7: {
      const lines = input.split('\r\n');
      const i = 1 + Math.floor(rand() * Math.max(1, lines.length - 2));
      lines.splice(i, 0, pick(LINES));
      return lines.join('\r\n');
    }
    case 8:
      return pick(LEADING) + input;
    default:
      return input.slice(0, at());
  }
}

// ---------------------------------------------------------------- the test

test('differential fuzz against llhttp: same heads, or an allowed difference', { skip: SKIP }, (t) => {
  const seed = Number(process.env.FUZZ_SEED ?? 0x5eed2026);
  const cases = Number(process.env.FUZZ_CASES ?? 10000);
  const rand = seeded(seed);
  const counts = new Map<string, number>();
  const count = (k: string): void => {
    counts.set(k, (counts.get(k) ?? 0) + 1);
  };
  for (let n = 0; n < cases; n++) {
    let text = BASES[Math.floor(rand() * BASES.length)]!;
    const steps = 1 + Math.floor(rand() * 3);
    for (let k = 0; k < steps; k++) text = mutate(text, rand);
    const input = Buffer.from(text, 'latin1');
    const label = `FUZZ_SEED=${seed} case ${n}`;

    // our own verdict does not depend on how the bytes are sliced
    const whole = ours(input);
    const cuts = [...new Set([1 + Math.floor(rand() * input.length), 1 + Math.floor(rand() * input.length)])]
      .filter((c) => c < input.length).sort((x, y) => x - y);
    assert.deepEqual(ours(input, cuts), whole, `${label}: slices ${cuts} of ${JSON.stringify(text)}`);

    const kinds: Kind[] = [];
    compare(input, kinds, label);
    count(`ours ${whole.rc}`);
    for (const k of new Set(kinds)) count(k);
  }
  t.diagnostic(`seed ${seed}, ${cases} heads: ${[...counts].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  // the generator must reach both verdicts, or the comparison proves little
  assert.ok((counts.get('ours ok') ?? 0) > cases / 5, 'enough accepted heads');
  assert.ok((counts.get('ours error') ?? 0) > cases / 5, 'enough refused heads');
});

test('the allow-list entries each describe a real difference', { skip: SKIP }, () => {
  const kindsOf = (text: string): Kind[] => {
    const kinds: Kind[] = [];
    compare(Buffer.from(text, 'latin1'), kinds, JSON.stringify(text));
    return kinds;
  };
  assert.deepEqual(kindsOf('FOO / HTTP/1.1\r\nHost: a\r\n\r\n'), ['unknownMethod']);
  assert.deepEqual(kindsOf('GET / HTTP/1.2\r\nHost: a\r\n\r\n'), ['version']);
  assert.deepEqual(kindsOf('GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n'), ['targetHighBytes']);
  assert.deepEqual(kindsOf('GET a.b:80 HTTP/1.1\r\nHost: a\r\n\r\n'), ['targetForm']);
  assert.deepEqual(kindsOf('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n'), ['framing']);
  assert.deepEqual(kindsOf('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n'), ['framingTrailingTab']);
  assert.deepEqual(kindsOf('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0 \t\r\n\r\n'), ['framingTrailingTab']);
  assert.deepEqual(kindsOf('GET svn+ssh://b/ HTTP/1.1\r\nHost: a\r\n\r\n'), ['schemeChars']);
  assert.deepEqual(kindsOf('GET / HTTP/1.1\nHost: a\n\n'), ['lineEnd']);
  assert.deepEqual(kindsOf('GET / HTTP/1.1\r\nHost: a\r\r\n\r\n'), ['lineEnd']);
  assert.deepEqual(kindsOf('GET / HTTP/1.1 \r\nHost: a\r\n\r\n'), ['trailingSpace']);
  assert.deepEqual(kindsOf('GET / HTTP/1.1\r\nHost: a\r\nX@: y\r\nNoColon\r\n\r\n'), ['oddHeaderLine']);
  assert.deepEqual(kindsOf('GET /\r\nHost: a\r\n\r\n'), ['http09']);
  assert.deepEqual(kindsOf('GET / HTTP/0.9\r\nHost: a\r\n\r\n'), ['versionRefused']);
  assert.deepEqual(kindsOf('GET / HTTP/2.0\r\nHost: a\r\n\r\n'), ['versionRefused']);
  assert.deepEqual(kindsOf('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n'), ['targetStart']);
  assert.deepEqual(kindsOf('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), []);
  // several at once, each normalised in turn
  assert.deepEqual(kindsOf('GET / HTTP/1.1 \nHost: a\nX@: y\n\n'), ['lineEnd', 'trailingSpace', 'oddHeaderLine']);
  assert.deepEqual(kindsOf('FOO /\xe9 HTTP/1.2\r\nHost: a\r\n\r\n'), ['unknownMethod', 'version', 'targetHighBytes']);
  // both refuse: nothing to compare
  assert.deepEqual(kindsOf('FOO\t/\xe9 HTTP/1.2\r\nHost: a\r\n\r\n'), []);
});
