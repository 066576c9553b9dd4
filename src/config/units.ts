/**
 * nginx's value syntaxes: times (ngx_parse_time), sizes (ngx_parse_size),
 * offsets (ngx_parse_offset) and flags. Each returns null on invalid input; the
 * setter turns that into nginx's message.
 */

const TIME_UNITS: Record<string, number> = {
  y: 365 * 24 * 3600_000,
  M: 30 * 24 * 3600_000,
  w: 7 * 24 * 3600_000,
  d: 24 * 3600_000,
  h: 3600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};
const TIME_ORDER = ['y', 'M', 'w', 'd', 'h', 'm', 's', 'ms'];

/**
 * Parses `10s`, `1m30s`, `1h 30m`, `500ms`, `30` (seconds) into milliseconds.
 * Units must come in decreasing order, each once, as nginx requires.
 * `allowMs` false rejects `ms` (directives kept in seconds, e.g. `expires`).
 */
export function parseTime(text: string, allowMs = true): number | null {
  let total = 0;
  let value = -1;
  let lastUnit = -1;
  let any = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      value = (value < 0 ? 0 : value) * 10 + (c - 0x30);
      if (value > Number.MAX_SAFE_INTEGER / 1000) return null;
      continue;
    }
    if (c === 0x20) {
      if (value >= 0) { total += value * 1000; value = -1; any = true; lastUnit = TIME_ORDER.length - 2; }
      continue;
    }
    let unit = text[i];
    if (unit === 'm' && text[i + 1] === 's') { unit = 'ms'; i++; }
    const order = TIME_ORDER.indexOf(unit);
    if (order === -1 || order <= lastUnit || value < 0) return null;
    if (unit === 'ms' && !allowMs) return null;
    total += value * TIME_UNITS[unit];
    lastUnit = order;
    value = -1;
    any = true;
  }
  if (value >= 0) { total += value * 1000; any = true; }
  if (!any || total > Number.MAX_SAFE_INTEGER) return null;
  return total;
}

/** Parses `512`, `8k`, `1m` (nginx sizes: k/K, m/M) into bytes. */
export function parseSize(text: string): number | null {
  return parseScaled(text, false);
}

/** Like parseSize but also accepts `g`/`G` (nginx offsets: max_temp_file_size...). */
export function parseOffset(text: string): number | null {
  return parseScaled(text, true);
}

function parseScaled(text: string, allowGiga: boolean): number | null {
  if (text.length === 0) return null;
  let scale = 1;
  let digits = text;
  const last = text[text.length - 1];
  if (last === 'k' || last === 'K') scale = 1024;
  else if (last === 'm' || last === 'M') scale = 1024 * 1024;
  else if (allowGiga && (last === 'g' || last === 'G')) scale = 1024 * 1024 * 1024;
  if (scale !== 1) digits = text.slice(0, -1);
  if (!/^[0-9]+$/.test(digits)) return null;
  const n = Number(digits) * scale;
  return Number.isSafeInteger(n) ? n : null;
}

/** nginx's ngx_atoi: digits only, no sign. */
export function parseNumber(text: string): number | null {
  if (!/^[0-9]+$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

export function parseFlag(text: string): boolean | null {
  const t = text.toLowerCase();
  if (t === 'on') return true;
  if (t === 'off') return false;
  return null;
}
