/**
 * USER resolution for RUN, as BuildKit does it: `uid:gid` (numbers or `root`) is taken as is;
 * anything else goes through runc's rules against the rootfs' /etc/passwd and /etc/group (a name
 * must exist, a number need not; a user found by name or uid brings its primary group and, when
 * no group is given, the groups that list it as a member). The supplementary groups always start
 * with the primary gid, as containerd's ensureAdditionalGids and buildah set them, so `id` in a
 * RUN after `USER app` prints `groups=1000(app)` (busybox's `id` prints only what getgroups(2)
 * returns).
 */
import { readFile } from 'node:fs/promises';
import { GantryError } from '../../errors.js';
import { hostPath, resolveInRoot } from '../../util/rootpath.js';
import type { ResolvedUser } from './types.js';

const MAX_ID = 2 ** 31 - 1;

interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

function userError(code: string, message: string, suggestion: string): GantryError {
  return new GantryError(code, message, { phase: 'build', suggestion });
}

/** A decimal id in runc's range, or undefined when `text` is not one. */
function parseId(text: string): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_ID ? n : undefined;
}

function idOrRoot(text: string): number | undefined {
  return text === 'root' ? 0 : parseId(text);
}

/** The lines of a colon-separated database, without comments, blanks and NIS `+`/`-` entries. */
function records(text: string): string[][] {
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    out.push(line.split(':'));
  }
  return out;
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of records(text)) {
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (f[0] && uid !== undefined && gid !== undefined) out.push({ name: f[0], uid, gid, home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of records(text)) {
    const gid = parseId(f[2] ?? '');
    if (!f[0] || gid === undefined) continue;
    const members = (f[3] ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== '');
    out.push({ name: f[0], gid, members });
  }
  return out;
}

/** The text of /etc/passwd or /etc/group inside the rootfs, or undefined when there is none. */
async function readDatabase(rootfs: string, path: string): Promise<string | undefined> {
  const inRoot = await resolveInRoot(rootfs, path);
  try {
    return await readFile(hostPath(rootfs, inRoot), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw err;
  }
}

/**
 * The uid, gid and supplementary groups `user` names in the rootfs. `''` is root. Throws
 * USER_NOT_FOUND / GROUP_NOT_FOUND for names the image does not define, INVALID_USER for a
 * malformed value.
 */
export async function resolveUser(rootfs: string, user: string): Promise<ResolvedUser> {
  const { uid, gid, groups } = await resolveIds(rootfs, user);
  return { uid, gid, groups: [gid, ...groups.filter((g) => g !== gid)] };
}

/** resolveUser without the primary gid in the supplementary groups (runc's ExecUser). */
async function resolveIds(rootfs: string, user: string): Promise<ResolvedUser> {
  const spec = user.trim();
  if (spec === '') return { uid: 0, gid: 0, groups: [] };
  const colon = spec.indexOf(':');
  const userArg = colon < 0 ? spec : spec.slice(0, colon);
  const groupArg = colon < 0 ? '' : spec.slice(colon + 1);
  if (colon >= 0 && (userArg === '' || groupArg === '' || groupArg.includes(':'))) {
    throw userError(
      'INVALID_USER',
      `invalid USER ${JSON.stringify(user)}`,
      'write USER as user, uid, user:group or uid:gid',
    );
  }

  // BuildKit's fast path: both halves numeric (or `root`) need no lookup and bring no groups.
  if (colon >= 0) {
    const uid = idOrRoot(userArg);
    const gid = idOrRoot(groupArg);
    if (uid !== undefined && gid !== undefined) return { uid, gid, groups: [] };
  }

  const passwdText = await readDatabase(rootfs, '/etc/passwd');
  const passwd = passwdText === undefined ? [] : parsePasswd(passwdText);
  const found = passwd.find((u) => u.name === userArg || String(u.uid) === userArg);
  let uid: number;
  let gid = 0;
  let name: string | undefined;
  if (found) {
    ({ uid, gid, name } = found);
  } else {
    // `root` is uid 0 even in an image without /etc/passwd (runc would refuse it there).
    const n = idOrRoot(userArg);
    if (n === undefined) {
      throw userError(
        'USER_NOT_FOUND',
        `unable to find user ${userArg}: ${passwdText === undefined ? 'the image has no /etc/passwd' : 'no matching entry in /etc/passwd'}`,
        'create the user in an earlier step (useradd, adduser) or use a numeric uid:gid',
      );
    }
    uid = n;
  }

  if (groupArg === '' && name === undefined) return { uid, gid, groups: [] };
  const groupText = await readDatabase(rootfs, '/etc/group');
  const groupDb = groupText === undefined ? [] : parseGroup(groupText);
  if (groupArg !== '') {
    const g = groupDb.find((e) => e.name === groupArg || String(e.gid) === groupArg);
    if (g) return { uid, gid: g.gid, groups: [] };
    const n = parseId(groupArg);
    if (n === undefined) {
      throw userError(
        'GROUP_NOT_FOUND',
        `unable to find group ${groupArg}: ${groupText === undefined ? 'the image has no /etc/group' : 'no matching entry in /etc/group'}`,
        'create the group in an earlier step (groupadd, addgroup) or use a numeric gid',
      );
    }
    return { uid, gid: n, groups: [] };
  }
  const groups = [...new Set(groupDb.filter((g) => g.members.includes(name!)).map((g) => g.gid))];
  return { uid, gid, groups };
}

/**
 * The owner of what a step creates for USER (WORKDIR's directories): as resolveUser, except that
 * a user or group name the image does not define falls back to root, as BuildKit's mkdir does.
 * RUN stays strict: it resolves with resolveUser.
 */
export async function resolveOwner(rootfs: string, user: string): Promise<ResolvedUser> {
  try {
    return await resolveUser(rootfs, user);
  } catch (err) {
    if (GantryError.is(err) && (err.code === 'USER_NOT_FOUND' || err.code === 'GROUP_NOT_FOUND')) {
      return { uid: 0, gid: 0, groups: [] };
    }
    throw err;
  }
}

/**
 * HOME for a process running as `uid`, as runc and buildah set it when the environment has none:
 * the home directory of the uid's /etc/passwd entry, `/` when the image has no entry for it.
 */
export async function homeDirectory(rootfs: string, uid: number): Promise<string> {
  const text = await readDatabase(rootfs, '/etc/passwd');
  const entry = text === undefined ? undefined : parsePasswd(text).find((u) => u.uid === uid);
  return entry?.home || '/';
}
