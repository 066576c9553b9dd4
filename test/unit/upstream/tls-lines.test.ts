// The TLS failure lines of upstream connections, in nginx's words and levels.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { handshakeFailureLine, sslReadFailureLine } from '../../../src/upstream/tls.js';

const err = (message: string, errno?: number, code?: string): NodeJS.ErrnoException =>
  Object.assign(new Error(message), errno !== undefined ? { errno, code } : {});

test('an OpenSSL error is printed as OpenSSL 3 does for nginx, at error for a peer\'s handshake failure', () => {
  const line = handshakeFailureLine(err('80FC0A34747F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n'));
  assert.deepEqual(line, { level: 'error', message: 'SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream' });
});

test('an alert from the peer is error; a reason outside nginx\'s list is crit', () => {
  assert.equal(handshakeFailureLine(err('X:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:f.c:1:')).level, 'error');
  assert.equal(handshakeFailureLine(err('X:error:0A000086:SSL routines:tls_post_process_server_certificate:certificate verify failed:f.c:1:')).level, 'crit');
});

test('a close or a reset during the handshake is "peer closed connection in SSL handshake"', () => {
  assert.deepEqual(handshakeFailureLine(err('Client network socket disconnected before secure TLS connection was established')), {
    level: 'error', message: 'peer closed connection in SSL handshake while SSL handshaking to upstream',
  });
  assert.equal(handshakeFailureLine(err('read ECONNRESET', -104, 'ECONNRESET')).message,
    'peer closed connection in SSL handshake (104: Connection reset by peer) while SSL handshaking to upstream');
  assert.equal(handshakeFailureLine(null).message, 'peer closed connection in SSL handshake while SSL handshaking to upstream');
});

test('a record error after the handshake is SSL_read() failed; anything else is left to the plain lines', () => {
  assert.equal(sslReadFailureLine(err('X:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:f.c:1:'), 'while reading upstream')!.message,
    'SSL_read() failed (SSL: error:0A00010B:SSL routines::wrong version number) while reading upstream');
  assert.equal(sslReadFailureLine(err('read ECONNRESET', -104, 'ECONNRESET'), 'while reading upstream'), null);
  assert.equal(sslReadFailureLine(null, 'while reading upstream'), null);
});
