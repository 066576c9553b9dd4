/**
 * getpwnam(3) and getgrnam(3), for the `user` directive. Node has no binding
 * for them, so `getent` asks the same NSS sources libc would (files, LDAP,
 * sssd...). Where there is no getent (not glibc), /etc/passwd and /etc/group
 * are read: what NSS "files" holds.
 *
 * Found entries are kept for the life of the process (every worker and every
 * reload reads the config again, and a spawn costs milliseconds); a name not
 * found is asked again, so that a reload after `useradd` sees it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface UserEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
}

type Database = 'passwd' | 'group';

const found = new Map<string, string[]>();

export function getpwnam(name: string): UserEntry | null {
  const f = entry('passwd', name);
  return f ? { name: f[0], uid: Number(f[2]), gid: Number(f[3]) } : null;
}

export function getgrnam(name: string): GroupEntry | null {
  const f = entry('group', name);
  return f ? { name: f[0], gid: Number(f[2]) } : null;
}

/** The entry's colon-separated fields, or null. */
function entry(db: Database, name: string): string[] | null {
  const key = `${db}:${name}`;
  const cached = found.get(key);
  if (cached) return cached;
  const fields = fromGetent(db, name) ?? fromFile(db, name);
  if (fields) found.set(key, fields);
  return fields || null;
}

/** Fields, false when getent says there is no such entry, null when getent cannot answer. */
function fromGetent(db: Database, name: string): string[] | false | null {
  const r = spawnSync('getent', [db, '--', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  if (r.error) return null;
  // 2: not found; 1 (bad arguments) and 3 (not supported) leave it to the file.
  if (r.status === 2) return false;
  if (r.status !== 0) return null;
  // getent also looks a number up as an id; getpwnam("0") looks for a user named "0".
  const fields = r.stdout.split('\n')[0].split(':');
  return fields[0] === name ? fields : false;
}

function fromFile(db: Database, name: string): string[] | false {
  let text: string;
  try {
    text = readFileSync(`/etc/${db}`, 'utf8');
  } catch {
    return false;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields.length >= 3) return fields;
  }
  return false;
}
