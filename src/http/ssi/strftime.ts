/**
 * strftime(3) in the C locale, for SSI's `config timefmt` and $date_local /
 * $date_gmt (nginx formats them with the C library's strftime). `%s` alone is
 * nginx's own case: the seconds since the epoch. A conversion this does not
 * know is written as it stands, as glibc does.
 */
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

const pad = (n: number, width = 2, fill = '0'): string => String(n).padStart(width, fill);

interface Parts {
  year: number; month: number; day: number; hours: number; minutes: number; seconds: number; weekday: number;
  /** Minutes east of UTC. */
  offset: number;
  zone: string;
  epoch: number;
}

function parts(d: Date, utc: boolean): Parts {
  if (utc) {
    return {
      year: d.getUTCFullYear(), month: d.getUTCMonth(), day: d.getUTCDate(), hours: d.getUTCHours(),
      minutes: d.getUTCMinutes(), seconds: d.getUTCSeconds(), weekday: d.getUTCDay(), offset: 0, zone: 'GMT',
      epoch: Math.floor(d.getTime() / 1000),
    };
  }
  const offset = -d.getTimezoneOffset();
  const name = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value;
  return {
    year: d.getFullYear(), month: d.getMonth(), day: d.getDate(), hours: d.getHours(), minutes: d.getMinutes(),
    seconds: d.getSeconds(), weekday: d.getDay(), offset, zone: name ?? '',
    epoch: Math.floor(d.getTime() / 1000),
  };
}

function dayOfYear(p: Parts): number {
  return Math.floor((Date.UTC(p.year, p.month, p.day) - Date.UTC(p.year, 0, 1)) / 86400000) + 1;
}

export function strftime(format: string, date: Date, utc: boolean): string {
  const p = parts(date, utc);
  let out = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== '%' || i + 1 === format.length) { out += c; continue; }
    const f = format[++i]!;
    switch (f) {
      case 'a': out += DAYS[p.weekday]!.slice(0, 3); break;
      case 'A': out += DAYS[p.weekday]; break;
      case 'b': case 'h': out += MONTHS[p.month]!.slice(0, 3); break;
      case 'B': out += MONTHS[p.month]; break;
      case 'c': out += `${DAYS[p.weekday]!.slice(0, 3)} ${MONTHS[p.month]!.slice(0, 3)} ${pad(p.day, 2, ' ')} ${pad(p.hours)}:${pad(p.minutes)}:${pad(p.seconds)} ${p.year}`; break;
      case 'C': out += pad(Math.floor(p.year / 100)); break;
      case 'd': out += pad(p.day); break;
      case 'D': out += `${pad(p.month + 1)}/${pad(p.day)}/${pad(p.year % 100)}`; break;
      case 'e': out += pad(p.day, 2, ' '); break;
      case 'F': out += `${p.year}-${pad(p.month + 1)}-${pad(p.day)}`; break;
      case 'H': out += pad(p.hours); break;
      case 'I': out += pad(p.hours % 12 === 0 ? 12 : p.hours % 12); break;
      case 'j': out += pad(dayOfYear(p), 3); break;
      case 'k': out += pad(p.hours, 2, ' '); break;
      case 'l': out += pad(p.hours % 12 === 0 ? 12 : p.hours % 12, 2, ' '); break;
      case 'm': out += pad(p.month + 1); break;
      case 'M': out += pad(p.minutes); break;
      case 'n': out += '\n'; break;
      case 'p': out += p.hours < 12 ? 'AM' : 'PM'; break;
      case 'r': out += `${pad(p.hours % 12 === 0 ? 12 : p.hours % 12)}:${pad(p.minutes)}:${pad(p.seconds)} ${p.hours < 12 ? 'AM' : 'PM'}`; break;
      case 'R': out += `${pad(p.hours)}:${pad(p.minutes)}`; break;
      case 's': out += String(p.epoch); break;
      case 'S': out += pad(p.seconds); break;
      case 't': out += '\t'; break;
      case 'T': case 'X': out += `${pad(p.hours)}:${pad(p.minutes)}:${pad(p.seconds)}`; break;
      case 'u': out += String(p.weekday === 0 ? 7 : p.weekday); break;
      case 'w': out += String(p.weekday); break;
      case 'x': out += `${pad(p.month + 1)}/${pad(p.day)}/${pad(p.year % 100)}`; break;
      case 'y': out += pad(p.year % 100); break;
      case 'Y': out += String(p.year); break;
      case 'z': {
        const a = Math.abs(p.offset);
        out += `${p.offset < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}${pad(a % 60)}`;
        break;
      }
      case 'Z': out += p.zone; break;
      case '%': out += '%'; break;
      default: out += '%' + f;
    }
  }
  return out;
}
