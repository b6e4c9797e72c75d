import path from 'node:path';

/**
 * A path relative to the source, as the bytes git or the kernel gave it: a "binary" string, one
 * character per byte (latin1), so that a name that is not UTF-8 (a Latin-1 `caf\xe9.html`)
 * survives from git's `-z` output and inotify's records to rsync's `--files-from` unchanged.
 * `/` and NUL are single bytes in every encoding, so splitting and joining on them is safe.
 */
export type RelPath = string;

export function relPathFromBytes(bytes: Buffer): RelPath {
  return bytes.toString('latin1');
}

export function relPathBytes(rel: RelPath): Buffer {
  return Buffer.from(rel, 'latin1');
}

/** The byte string of a path fanout holds as an ordinary (UTF-8) string: the source, say. */
export function bytesOf(text: string): RelPath {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** `root/rel` as bytes, for the file system: node takes a Buffer path as it is. */
export function onDisk(root: string, rel: RelPath): Buffer {
  return Buffer.concat([Buffer.from(path.join(root, '/')), relPathBytes(rel)]);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A name for a person: as UTF-8 when it is, else with each byte that is not shown as \xNN. Only
 * for messages; never fed back to anything that acts on files.
 */
export function displayPath(rel: RelPath): string {
  const bytes = relPathBytes(rel);
  try {
    // control characters (a newline in a name) escaped, so a message stays one line
    return JSON.stringify(utf8.decode(bytes)).slice(1, -1);
  } catch {
    return [...bytes].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
  }
}

/** Linux's limits: NAME_MAX for one component, PATH_MAX for a whole path (both in bytes). */
export const NAME_MAX = 255;
export const PATH_MAX = 4096;

/** rsync's --delay-updates stages files in `.~tmp~` directories and skips any such name it walks. */
export const RSYNC_TEMP_DIR = '.~tmp~';

/**
 * Why a path from git or inotify cannot be acted on, or undefined when it can (invariant 8): an
 * empty, `.` or `..` component, a leading `/`, a `.git` component in any case, a component over
 * 255 bytes or a path over 4096, or a component rsync's --delay-updates keeps for itself.
 */
export function pathProblem(rel: RelPath): string | undefined {
  if (rel === '') return 'an empty path';
  if (rel.startsWith('/')) return 'an absolute path';
  for (const part of rel.split('/')) {
    if (part === '') return 'an empty path component';
    if (part === '.' || part === '..') return `a "${part}" component`;
    if (part.toLowerCase() === '.git') return 'a ".git" component';
    if (part.length > NAME_MAX) return `a name of ${part.length} bytes (the limit is ${NAME_MAX})`;
    if (part === RSYNC_TEMP_DIR) return `a "${RSYNC_TEMP_DIR}" component (rsync's --delay-updates stages files under that name and skips it)`;
  }
  if (rel.length >= PATH_MAX) return `a path of ${rel.length} bytes (the limit is ${PATH_MAX - 1})`;
  return undefined;
}

/** A path shortened for a one-line message: a 4,096-byte name must not fill the screen. */
export function shortPath(rel: RelPath, max = 120): string {
  const shown = displayPath(rel);
  return shown.length <= max ? shown : `${shown.slice(0, max - 20)}...(${rel.length} bytes)`;
}
