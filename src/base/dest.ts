import path from 'node:path';
import { FanoutError } from './errors.js';

/** Where a target lives, parsed from its `dest` string. */
export type Dest =
  | { kind: 'daemon'; user: string | undefined; host: string; port: number | undefined; module: string; path: string }
  | { kind: 'ssh'; user: string | undefined; host: string; path: string }
  | { kind: 'local'; path: string };

// A host is a name or address without spaces, or a bracketed IPv6 address.
const HOST = String.raw`(\[[0-9A-Fa-f:.%\w]+\]|[^/:@\[\]\s]+)`;
const USER = String.raw`(?:([^@/:\s]+)@)?`;
const DAEMON_URL = new RegExp(String.raw`^rsync://${USER}${HOST}(?::(\d+))?/([^/\s]+)(?:/(.*))?$`);
const DAEMON_PAIR = new RegExp(String.raw`^${USER}${HOST}::([^/\s]+)(?:/(.*))?$`);
const SSH = new RegExp(String.raw`^${USER}${HOST}:(?!:)(.+)$`);

/**
 * Accepted forms, as rsync itself reads them:
 *   user@host::module[/path]          rsync daemon
 *   rsync://user@host[:port]/module/[path]
 *   [user@]host:/path                 over ssh
 *   /local/path
 * The returned path never has leading or trailing slashes for daemons (it is inside the module).
 */
export function parseDest(dest: string): Dest {
  const fail = (why: string): never => {
    throw new FanoutError(`dest ${JSON.stringify(dest)}: ${why}`);
  };
  if (dest.trim() !== dest || dest === '') fail('empty or surrounded by spaces');
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(dest)) fail('contains a control character');
  if (dest.startsWith('rsync://')) {
    const m = DAEMON_URL.exec(dest);
    if (!m) return fail('not of the form rsync://user@host[:port]/module/[path]');
    const port = m[3] === undefined ? undefined : Number(m[3]);
    if (port !== undefined && (port < 1 || port > 65535)) fail(`port ${port} out of range`);
    return { kind: 'daemon', user: m[1], host: m[2] ?? '', port, module: m[4] ?? '', path: trimSlashes(m[5] ?? '') };
  }
  if (dest.startsWith('/')) return { kind: 'local', path: path.normalize(dest) };
  const pair = DAEMON_PAIR.exec(dest);
  if (pair?.[2]?.startsWith('-') === true) fail('a host beginning with "-" is read as an option');
  if (pair) return { kind: 'daemon', user: pair[1], host: pair[2] ?? '', port: undefined, module: pair[3] ?? '', path: trimSlashes(pair[4] ?? '') };
  const ssh = SSH.exec(dest);
  if (ssh) {
    // ssh reads a host (or user) beginning with "-" as an option (-oProxyCommand=... runs a
    // command); only rsync's own check stands in the way, so the config refuses it first
    if (ssh[2]?.startsWith('-') === true || ssh[1]?.startsWith('-') === true) fail('a host or user beginning with "-" would be read by ssh as an option');
    return { kind: 'ssh', user: ssh[1], host: ssh[2] ?? '', path: ssh[3] ?? '' };
  }
  return fail('expected user@host::module, rsync://user@host[:port]/module/, [user@]host:/path or an absolute /path');
}

/** The destination argument for rsync: always a directory, so `source/` lands inside it. */
/** A directory inside a dest (a target's `slots/2`), as a dest of its own. */
export function destBelow(dest: Dest, sub: string): Dest {
  switch (dest.kind) {
    case 'daemon':
      return { ...dest, path: dest.path === '' ? sub : `${dest.path}/${sub}` };
    case 'ssh':
      return { ...dest, path: path.posix.join(dest.path, sub) };
    case 'local':
      return { ...dest, path: path.join(dest.path, sub) };
  }
}

export function rsyncDestArg(dest: Dest): string {
  switch (dest.kind) {
    case 'daemon': {
      const user = dest.user === undefined ? '' : `${dest.user}@`;
      const port = dest.port === undefined ? '' : `:${dest.port}`;
      const sub = dest.path === '' ? '' : `${dest.path}/`;
      return `rsync://${user}${dest.host}${port}/${dest.module}/${sub}`;
    }
    case 'ssh': {
      const user = dest.user === undefined ? '' : `${dest.user}@`;
      return `${user}${dest.host}:${withSlash(dest.path)}`;
    }
    case 'local':
      return withSlash(dest.path);
  }
}

/** A short form for reports and logs: host and module or path, never a credential. */
export function describeDest(dest: Dest): string {
  switch (dest.kind) {
    case 'daemon':
      return `${dest.host}${dest.port === undefined ? '' : `:${dest.port}`}::${dest.module}${dest.path === '' ? '' : `/${dest.path}`}`;
    case 'ssh':
      return `${dest.host}:${dest.path}`;
    case 'local':
      return dest.path;
  }
}

function trimSlashes(p: string): string {
  return p.replace(/^\/+|\/+$/g, '');
}

function withSlash(p: string): string {
  return p.endsWith('/') ? p : `${p}/`;
}
