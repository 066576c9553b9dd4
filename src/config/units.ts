/**
 * nginx's value syntaxes: times (ngx_parse_time), sizes (ngx_parse_size),
 * offsets (ngx_parse_offset) and flags. Each returns null on invalid input; the
 * setter turns that into nginx's message.
 */

// ngx_parse_time's steps, in the order units must come.
const ST_START = 0, ST_YEAR = 1, ST_MONTH = 2, ST_WEEK = 3, ST_DAY = 4, ST_HOUR = 5, ST_MIN = 6, ST_SEC = 7, ST_MSEC = 8, ST_LAST = 9;
const SEC = 1000, MIN = 60 * SEC, HOUR = 60 * MIN, DAY = 24 * HOUR;

/**
 * Parses `10s`, `1m30s`, `1h 30m`, `500ms`, `30` (seconds) into milliseconds,
 * as ngx_parse_time: units in decreasing order, each once; blanks after a unit
 * are skipped; any other blank is a bare-seconds step, so after it only a
 * number may follow (" 1" and "1 " are valid, " 1s", "30 500ms", "1 2 3" are not).
 * `allowMs` true is ngx_conf_set_msec_slot, which starts at months: `y` and `M`
 * are invalid there. `allowMs` false (ngx_conf_set_sec_slot) rejects `ms`.
 */
export function parseTime(text: string, allowMs = true): number | null {
  let step = allowMs ? ST_MONTH : ST_START;
  let total = 0;
  let value = 0;
  let valid = false;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      value = value * 10 + (c - 0x30);
      if (value > Number.MAX_SAFE_INTEGER / 1000) return null;
      valid = true;
      i++;
      continue;
    }
    const ch = text[i++];
    let scale: number;
    switch (ch) {
      case 'y':
        if (step > ST_START) return null;
        step = ST_YEAR; scale = 365 * DAY; break;
      case 'M':
        if (step >= ST_MONTH) return null;
        step = ST_MONTH; scale = 30 * DAY; break;
      case 'w':
        if (step >= ST_WEEK) return null;
        step = ST_WEEK; scale = 7 * DAY; break;
      case 'd':
        if (step >= ST_DAY) return null;
        step = ST_DAY; scale = DAY; break;
      case 'h':
        if (step >= ST_HOUR) return null;
        step = ST_HOUR; scale = HOUR; break;
      case 'm':
        if (i < n && text[i] === 's') {
          if (!allowMs || step >= ST_MSEC) return null;
          i++;
          step = ST_MSEC; scale = 1; break;
        }
        if (step >= ST_MIN) return null;
        step = ST_MIN; scale = MIN; break;
      case 's':
        if (step >= ST_SEC) return null;
        step = ST_SEC; scale = SEC; break;
      case ' ':
        if (step >= ST_SEC) return null;
        step = ST_LAST; scale = SEC; break;
      default:
        return null;
    }
    total += value * scale;
    if (total > Number.MAX_SAFE_INTEGER) return null;
    value = 0;
    while (i < n && text[i] === ' ') i++;
  }
  if (!valid) return null;
  total += value * SEC;
  if (total > Number.MAX_SAFE_INTEGER) return null;
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
