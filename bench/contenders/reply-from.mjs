// fastify + @fastify/reply-from; with several bases reply-from balances
// round-robin over an undici BalancedPool (keep-alive).
import Fastify from 'fastify'
import replyFrom from '@fastify/reply-from'
import { port, upstreams } from './_args.mjs'

const app = Fastify({ logger: false })
// Stream request bodies through untouched instead of parsing them.
app.addContentTypeParser('*', (req, payload, done) => done(null, payload))
await app.register(replyFrom, { base: upstreams.map((u) => `http://${u}/`) })
app.all('/*', (request, reply) => { reply.from(request.url) })
await app.listen({ port, host: '127.0.0.1' })
app.server.keepAliveTimeout = 65_000
console.log(`reply-from listening on 127.0.0.1:${port} -> ${upstreams}`)
