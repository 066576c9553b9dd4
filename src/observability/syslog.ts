/**
 * Logging to syslog (ngx_syslog.c): `syslog:server=ADDR[:PORT][,facility=F]
 * [,severity=S][,tag=T][,nohostname]`, for error_log and access_log alike.
 *
 * A message is RFC 3164 over UDP, one datagram per line:
 *
 *   <PRI>Dec  3 14:40:00 hostname nginx: MESSAGE
 *
 * PRI is facility * 8 + severity. An error_log message carries its own level
 * as severity (ngx_syslog_writer), an access_log line the configured one
 * (default info); the facility defaults to local7, the tag to `nginx`: weir
 * keeps nginx's tag so that the syslog daemons' filters written for nginx
 * (rsyslog `programname`, fail2ban) keep matching. The hostname is the
 * machine's, lowercased (cycle->hostname); `nohostname` leaves it out.
 *
 * Sending never blocks and never fails a request: the datagrams go from one
 * unbound, unref'd UDP socket per address family and process, and a failed
 * send (nobody listening: ECONNREFUSED comes back on some systems) is only
 * counted for the caller to log, as nginx warns "send() to syslog failed".
 *
 * Deliberate differences: `server=unix:PATH` is an [emerg], since Node has no
 * datagram unix sockets (nginx writes to /dev/log that way); a host name is
 * resolved once while the config is read (as ngx_parse_url does), to its
 * first address.
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { ConfigError, type ConfPosition } from '../config/errors.js';

const FACILITIES = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'intern', 'lpr', 'news', 'uucp',
  'clock', 'authpriv', 'ftp', 'ntp', 'audit', 'alert', 'cron', 'local0',
  'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7',
];

/** nginx's words (`error`, `warn`), not syslog's (`err`, `warning`). */
const SEVERITIES = ['emerg', 'alert', 'crit', 'error', 'warn', 'notice', 'info', 'debug'];

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** What `syslog:` names; `address` is filled in once a host name is resolved. */
export interface SyslogPeerConf {
  address: string;
  readonly port: number;
  readonly facility: number;
  readonly severity: number;
  readonly tag: string;
  readonly nohostname: boolean;
}

/** The config-reading side the parser needs (ConfContext offers it). */
export interface SyslogConfHost {
  error(message: string): never;
  readonly position: ConfPosition | undefined;
  readonly pendingTasks: (() => Promise<void>)[];
}

/** `server=` value: `host`, `host:port`, `[v6]`, `[v6]:port`; port 514 by default (ngx_parse_url). */
function parseServer(cf: SyslogConfHost, url: string): { host: string; port: number } {
  if (url.startsWith('unix:')) return cf.error(`syslog server "${url}": unix sockets are not supported by weir (Node has no datagram unix sockets)`);
  let host = url;
  let portText: string | null = null;
  if (url.startsWith('[')) {
    const end = url.indexOf(']');
    if (end === -1) return cf.error(`invalid host in syslog server "${url}"`);
    host = url.slice(1, end);
    const rest = url.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return cf.error(`invalid host in syslog server "${url}"`);
      portText = rest.slice(1);
    }
    if (isIP(host) !== 6) return cf.error(`invalid IPv6 address in syslog server "${url}"`);
  } else {
    const colon = url.lastIndexOf(':');
    if (colon !== -1) {
      host = url.slice(0, colon);
      portText = url.slice(colon + 1);
    }
  }
  if (host === '') return cf.error(`no host in syslog server "${url}"`);
  let port = 514;
  if (portText !== null) {
    port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : 0;
    if (port < 1 || port > 65535) return cf.error(`invalid port in syslog server "${url}"`);
  }
  return { host, port };
}

/**
 * ngx_syslog_process_conf: parses `syslog:...` (the whole argument), with
 * nginx's [emerg] texts. A host name is resolved before the config is used
 * (`host not found in syslog server`).
 */
export function parseSyslog(cf: SyslogConfHost, arg: string): SyslogPeerConf {
  let server: { host: string; port: number } | null = null;
  let facility = -1;
  let severity = -1;
  let tag: string | null = null;
  let nohostname = false;
  for (const p of arg.slice('syslog:'.length).split(',')) {
    if (p.startsWith('server=')) {
      if (server !== null) return cf.error('duplicate syslog "server"');
      server = parseServer(cf, p.slice(7));
    } else if (p.startsWith('facility=')) {
      if (facility !== -1) return cf.error('duplicate syslog "facility"');
      facility = FACILITIES.indexOf(p.slice(9));
      if (facility === -1) return cf.error(`unknown syslog facility "${p.slice(9)}"`);
    } else if (p.startsWith('severity=')) {
      if (severity !== -1) return cf.error('duplicate syslog "severity"');
      severity = SEVERITIES.indexOf(p.slice(9));
      if (severity === -1) return cf.error(`unknown syslog severity "${p.slice(9)}"`);
    } else if (p.startsWith('tag=')) {
      if (tag !== null) return cf.error('duplicate syslog "tag"');
      const t = p.slice(4);
      // RFC 3164: alphanumeric, at most 32 characters (nginx also allows `_`).
      if (t.length > 32) return cf.error('syslog tag length exceeds 32');
      if (!/^[0-9A-Za-z_]*$/.test(t)) return cf.error('syslog "tag" only allows alphanumeric characters and underscore');
      tag = t;
    } else if (p === 'nohostname') {
      nohostname = true;
    } else {
      return cf.error(`unknown syslog parameter "${p}"`);
    }
  }
  if (server === null) return cf.error('no syslog server specified');
  const peer: SyslogPeerConf = {
    address: server.host === 'localhost' ? '127.0.0.1' : server.host,
    port: server.port,
    facility: facility === -1 ? 23 : facility,
    severity: severity === -1 ? 6 : severity,
    tag: tag ?? 'nginx',
    nohostname,
  };
  if (isIP(peer.address) === 0) {
    const name = peer.address;
    const position = cf.position;
    const url = arg.slice('syslog:'.length).split(',').find((s) => s.startsWith('server='))!.slice(7);
    cf.pendingTasks.push(() => new Promise<void>((resolve, reject) => {
      lookup(name, (err, address) => {
        if (err) reject(new ConfigError(`host not found in syslog server "${url}"`, position));
        else { peer.address = address; resolve(); }
      });
    }));
  }
  return peer;
}

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));

let timeSec = -1;
let timeText = '';

/** `Dec  3 14:40:00`, local time (ngx_cached_syslog_time), remade once a second. */
export function syslogTime(now = Date.now()): string {
  const sec = Math.floor(now / 1000);
  if (sec !== timeSec) {
    const d = new Date(sec * 1000);
    const day = d.getDate();
    timeText = `${MONTHS[d.getMonth()]} ${day < 10 ? ' ' + day : day} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
    timeSec = sec;
  }
  return timeText;
}

/** cycle->hostname: gethostname(), lowercased. */
const HOSTNAME = hostname().toLowerCase();

/** The PRI and HEADER parts, `<PRI>TIMESTAMP HOSTNAME TAG: ` (ngx_syslog_add_header). */
export function syslogHeader(peer: SyslogPeerConf, severity: number): string {
  const pri = peer.facility * 8 + severity;
  return peer.nohostname
    ? `<${pri}>${syslogTime()} ${peer.tag}: `
    : `<${pri}>${syslogTime()} ${HOSTNAME} ${peer.tag}: `;
}

let socket4: Socket | null = null;
let socket6: Socket | null = null;

function socketFor(address: string): Socket {
  const v6 = isIP(address) === 6;
  let s = v6 ? socket6 : socket4;
  if (s === null) {
    s = createSocket(v6 ? 'udp6' : 'udp4');
    // A send that fails comes back in its callback; anything else must not take the process down.
    s.on('error', () => {});
    s.unref();
    if (v6) socket6 = s; else socket4 = s;
  }
  return s;
}

/**
 * Sends one message (`line` without its newline) with `severity`: an access
 * log line is a byte string (latin1), an error line text (utf8). `onError`
 * hears of a send that failed (nginx's "send() to syslog failed").
 */
export function syslogSend(
  peer: SyslogPeerConf, severity: number, line: string, encoding: 'latin1' | 'utf8', onError?: (message: string) => void,
): void {
  const data = Buffer.from(syslogHeader(peer, severity) + line, encoding);
  socketFor(peer.address).send(data, peer.port, peer.address, (err) => {
    if (err && onError) onError(`send() to syslog failed (${(err as NodeJS.ErrnoException).code ?? err.message})`);
  });
}

/** Closes the sockets (stop): later sends open new ones. */
export function closeSyslog(): void {
  for (const s of [socket4, socket6]) if (s !== null) try { s.close(); } catch { /* already closed */ }
  socket4 = null;
  socket6 = null;
}
