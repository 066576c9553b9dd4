// Shared option parsing for the Node contenders.
// Usage: node <contender>.mjs --port=8080 --upstreams=127.0.0.1:9001,127.0.0.1:9002
// or the same through the environment: PORT=8080 UPSTREAMS=127.0.0.1:9001,127.0.0.1:9002
function opt (name, envName) {
  const prefix = `--${name}=`
  const arg = process.argv.find((a) => a.startsWith(prefix))
  return arg !== undefined ? arg.slice(prefix.length) : process.env[envName]
}

export const port = Number(opt('port', 'PORT'))
export const upstreams = (opt('upstreams', 'UPSTREAMS') ?? '').split(',').filter(Boolean)

if (!Number.isInteger(port) || port <= 0 || upstreams.length === 0) {
  console.error('usage: node <contender>.mjs --port=N --upstreams=host:port,host:port (or PORT=, UPSTREAMS=)')
  process.exit(2)
}

// Stop cleanly when the harness says so.
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0))
