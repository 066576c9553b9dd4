// Every ```js example of the README runs as plain JavaScript against dist/ (no TypeScript,
// no const enums): its ports are swapped for free ones, two backends answer on the upstream
// ports, and a probe before `await weir.stop()` shows where requests went.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort } from '../helpers/raw-http.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(join(repo, 'README.md'), 'utf8');
const examples = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((code) => code.includes("from 'weir'"));

async function backend(name: string): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => { res.end(name); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

function run(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [file], { timeout: 20000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

test('the README has examples to run', () => {
  assert.ok(examples.length >= 2, `found ${examples.length}`);
});

for (const [n, code] of examples.entries()) {
  test(`README example ${n + 1} runs as plain JavaScript`, async () => {
    const [a, b] = [await backend('first'), await backend('second')];
    const dir = mkdtempSync(join(tmpdir(), 'weir-readme-'));
    try {
      const listen = await freePort();
      const probe = `for (let i = 0; i < 3; i++) console.log(await (await fetch('http://127.0.0.1:${listen}/')).text());\n`;
      const js = code
        .replaceAll("from 'weir'", `from '${pathToFileURL(join(repo, 'dist/src/index.js')).href}'`)
        .replaceAll('127.0.0.1:8080', `127.0.0.1:${listen}`)
        .replaceAll('127.0.0.1:3001', `127.0.0.1:${a.port}`)
        .replaceAll('127.0.0.1:3002', `127.0.0.1:${b.port}`)
        .replace('// ...\n', '')
        .replace('await weir.stop();', `${probe}await weir.stop();`);
      const file = join(dir, 'example.mjs');
      writeFileSync(file, js);
      const answers = (await run(file)).trim().split('\n');
      assert.equal(answers.length, 3, answers.join('|'));
      if (code.includes('first_available')) assert.deepEqual(answers, ['first', 'first', 'first'], 'the balancer of the example chose');
      else assert.ok(answers.includes('first') && answers.includes('second'), `round robin: ${answers.join('|')}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      a.server.close();
      b.server.close();
    }
  });
}

test('the subpath exports load as plain JavaScript, through the package name', async () => {
  const code = [
    "import { GetResult, PeerState, balancerModule, initRoundRobin } from 'weir/balancer';",
    "import { Upstream, FT, WeirErrorCode, upstreamFor } from 'weir/protocol';",
    "import { PHASE_AGAIN, resumePhases, Ctx, BodyFilterChain } from 'weir/module';",
    "import { startWeir } from 'weir';",
    'console.log([GetResult.Busy, PeerState.Failed, typeof balancerModule, typeof initRoundRobin, typeof Upstream, FT.error,',
    '  WeirErrorCode.Config, typeof upstreamFor, PHASE_AGAIN, typeof resumePhases, typeof Ctx, typeof BodyFilterChain, typeof startWeir].join(" "));',
  ].join('\n');
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', code], { cwd: repo, timeout: 20000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
  assert.equal(out.trim(), '1 1 function function function 2 WEIR_ERR_CONFIG function -4 function object function function');
});
