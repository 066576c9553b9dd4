// fastify + @fastify/reply-from; with several bases reply-from balances
// round-robin over an undici BalancedPool (keep-alive).
import Fastify from 'fastify'
import replyFrom from '@fastify/reply-from'
import { port, upstreams } from './_args.mjs'

const app = Fastify({ logger: false })
// Stream request bodies through untouched instead of parsing them.
app.addContentTypeParser('*', (req, payload, done) => done(null, payload))
await app.register(replyFrom, { base: upstreams.map((u) => `http://${u}/`) })
// reply-from copies the upstream's hop-by-hop `connection: keep-alive` into
// the reply; then Node keeps the client connection open even when the client
// asked `Connection: close`, and wrk's next request on it fails. Drop them.
const HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']
function rewriteHeaders (headers) {
  for (const h of HOP) delete headers[h]
  return headers
}
app.all('/*', (request, reply) => { reply.from(request.url, { rewriteHeaders }) })
await app.listen({ port, host: '127.0.0.1' })
app.server.keepAliveTimeout = 65_000
console.log(`reply-from listening on 127.0.0.1:${port} -> ${upstreams}`)
