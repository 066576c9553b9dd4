/**
 * A test-only content handler module: `echo_body buffered|stream;` reads the
 * request body with body.ts and answers with it, so body reading can be tested
 * before proxy_pass exists. Headers: X-Body-File (the temp file path or "-"),
 * X-Request-Length.
 */
import { readFileSync } from 'node:fs';
import { Ctx, type HttpModule } from '../../src/config/module.js';
import { readRequestBody, streamRequestBody } from '../../src/http/body.js';
import { httpCoreModule } from '../../src/http/core-module.js';
import { finalize } from '../../src/http/phases.js';
import { sendHeader } from '../../src/http/header-filter.js';
import type { HttpRequest } from '../../src/http/request.js';

function answer(r: HttpRequest, body: Buffer, file: string | null): void {
  if (!sendHeader(r, 200, ['X-Body-File', file ?? '-', 'X-Request-Length', String(r.requestLength)], body.length)) return;
  r.res.end(body);
}

export const echoBodyModule: HttpModule<null, null, null> = {
  kind: 'http',
  name: 'test_echo_body',
  directives: [{
    name: 'echo_body', contexts: Ctx.Location, args: [1, 1],
    set(cf, d) {
      const mode = d.args[0];
      cf.loc(httpCoreModule).handler = {
        name: 'echo_body',
        handle(r) {
          if (mode === 'stream') {
            const chunks: Buffer[] = [];
            let n = 0;
            const s = streamRequestBody(r, {
              write(c) {
                chunks.push(c);
                // Backpressure every other chunk, released a little later.
                if (++n % 2 === 0) { setTimeout(() => s.resume(), 5); return false; }
                return true;
              },
              end() { answer(r, Buffer.concat(chunks), null); },
              error(status) { finalize(r, status); },
            });
            return;
          }
          readRequestBody(r, (status) => {
            if (status !== 0) { finalize(r, status); return; }
            const b = r.body!;
            answer(r, b.file ? readFileSync(b.file) : Buffer.concat(b.buffers), b.file);
          });
        },
      };
    },
  }],
};
