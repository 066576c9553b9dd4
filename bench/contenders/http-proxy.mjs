// node-http-proxy in front of the upstreams, round-robin, keep-alive agent.
import http from 'node:http'
import httpProxy from 'http-proxy'
import { port, upstreams } from './_args.mjs'

const agent = new http.Agent({ keepAlive: true })
const proxy = httpProxy.createProxyServer({ agent })
const targets = upstreams.map((u) => `http://${u}`)
let next = 0

proxy.on('error', (err, req, res) => {
  if (typeof res.writeHead !== 'function') return res.destroy?.()
  if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' })
  res.end(`proxy error: ${err.code ?? err.message}\n`)
})

const server = http.createServer((req, res) => {
  proxy.web(req, res, { target: targets[next++ % targets.length] })
})
server.keepAliveTimeout = 65_000
server.listen(port, '127.0.0.1', () => console.log(`http-proxy listening on 127.0.0.1:${port} -> ${upstreams}`))
