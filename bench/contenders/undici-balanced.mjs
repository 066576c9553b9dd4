// A minimal proxy: node:http server in front of an undici BalancedPool
// (keep-alive, round-robin), response streamed straight into the reply with
// pool.stream(). The fastest Node approach known to the issue.
import http from 'node:http'
import { BalancedPool } from 'undici'
import { port, upstreams } from './_args.mjs'

const pool = new BalancedPool(upstreams.map((u) => `http://${u}`))
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host'])

function factory ({ statusCode, headers, opaque: res }) {
  for (const h of HOP) if (h in headers) delete headers[h]
  res.writeHead(statusCode, headers)
  return res
}

function onDone (err) {
  if (!err) return
  const res = this
  if (!res.headersSent) {
    res.writeHead(502, { 'content-type': 'text/plain' })
    res.end(`proxy error: ${err.code ?? err.message}\n`)
  } else {
    res.destroy()
  }
}

const server = http.createServer((req, res) => {
  const raw = req.rawHeaders
  const headers = {}
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    if (!HOP.has(name)) headers[name] = raw[i + 1]
  }
  const body = req.method === 'GET' || req.method === 'HEAD' ? null : req
  pool.stream({ path: req.url, method: req.method, headers, body, opaque: res }, factory, onDone.bind(res))
})
server.keepAliveTimeout = 65_000
server.listen(port, '127.0.0.1', () => console.log(`undici BalancedPool proxy listening on 127.0.0.1:${port} -> ${upstreams}`))
