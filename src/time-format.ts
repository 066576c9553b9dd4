/** The English names and padding nginx's time formats use (ngx_times.c), for every layer. */
export const WEEK_DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
export const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

export const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n));

/** ngx_http_cookie_time: `Thu, 31-Dec-37 23:55:55 GMT`, a 4-digit year after 2037. */
export function cookieTime(seconds: number): string {
  const d = new Date(seconds * 1000);
  const y = d.getUTCFullYear();
  return `${WEEK_DAYS[d.getUTCDay()]}, ${pad2(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${y > 2037 ? y : pad2(y % 100)} `
    + `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} GMT`;
}

let dateSecond = 0;
let dateText = '';
/** Now as the Date header says it (ngx_cached_http_time), formatted once per second. */
export function httpDate(): string {
  const now = Date.now();
  const second = now - (now % 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second).toUTCString();
  }
  return dateText;
}
