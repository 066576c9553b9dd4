/**
 * A response's header fields as weir builds them: one flat array of
 * name, value, name, value... (the shape `writeHead` takes), with names
 * compared case-insensitively. These are the few edits header filters make
 * on it, as nginx's filters make them on r->headers_out.
 */

/** Index of the first field named `lname` (lowercase), or -1. */
export function headerIndex(list: readonly string[], lname: string): number {
  for (let i = 0; i < list.length; i += 2) {
    if (list[i].length === lname.length && list[i].toLowerCase() === lname) return i;
  }
  return -1;
}

/** The values of the fields named `lname`, joined with `sep` as nginx's variables join them; undefined when none. */
export function joinedHeader(list: readonly string[], lname: string, sep = ', '): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < list.length; i += 2) {
    if (list[i].length !== lname.length || list[i].toLowerCase() !== lname) continue;
    out = out === undefined ? list[i + 1] : out + sep + list[i + 1];
  }
  return out;
}

/** Removes every field named `lname`. */
export function removeHeader(list: string[], lname: string): void {
  removeFrom(list, lname, 0);
}

/**
 * Gives the field one value: the first field of that name takes it (keeping
 * its place), later ones go; added at the end when there was none.
 */
export function setHeader(list: string[], name: string, value: string): void {
  const lname = name.toLowerCase();
  const at = headerIndex(list, lname);
  if (at === -1) { list.push(name, value); return; }
  list[at] = name;
  list[at + 1] = value;
  removeFrom(list, lname, at + 2);
}

function removeFrom(list: string[], lname: string, start: number): void {
  let w = start;
  for (let i = start; i < list.length; i += 2) {
    if (list[i].length === lname.length && list[i].toLowerCase() === lname) continue;
    list[w++] = list[i];
    list[w++] = list[i + 1];
  }
  list.length = w;
}
