import os from 'node:os';

/**
 * Who is behind a deploy, and what a push said about it. A push arrives as the one account that
 * receives pushes (`git`); the person is known from, in order: the name the update server's sshd
 * set for the key that logged in (`environment="FANOUT_USER=alice"` on the key's authorized_keys
 * line), the person behind sudo (SUDO_USER), else the account itself. The names and the push
 * options are bytes from a stranger: a name is recorded only if it is short and plain, else the
 * next source is used and a note says why; a message is cut to one bounded line.
 */

export type IdentitySource = 'ssh key' | 'sudo' | 'account';

export interface Identity {
  /** the person: a name fanout records (see USER_NAME), or the account */
  user: string;
  /** where the name came from */
  via: IdentitySource;
  /** the account fanout runs as */
  account: string;
  /** why a name that was given was not taken, for the pusher and the log */
  notes: string[];
}

/** 1 to 64 letters, digits, `.`, `_`, `-`, `@` or `+`, starting with a letter or a digit. */
export const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;
const USER_RULE = '1 to 64 letters, digits, ".", "_", "-", "@" or "+", starting with a letter or a digit';

/** The account fanout runs as: its passwd name, or its uid when it has none. */
export function accountName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/** The person behind this run, from FANOUT_USER, then SUDO_USER, then the account (pure). */
export function identify(env: NodeJS.ProcessEnv, account: string): Identity {
  const notes: string[] = [];
  const given = env.FANOUT_USER;
  if (given !== undefined && given !== '') {
    if (USER_NAME.test(given)) return { user: given, via: 'ssh key', account, notes };
    notes.push(`FANOUT_USER is not a name fanout records (${USER_RULE}; this one has ${Buffer.byteLength(given)} bytes); recorded who the account is instead: fix the key's environment= in the update server's authorized_keys`);
  }
  const behind = env.SUDO_USER;
  if (behind !== undefined && behind !== '' && behind !== account) {
    if (USER_NAME.test(behind)) return { user: behind, via: 'sudo', account, notes };
    notes.push(`SUDO_USER is not a name fanout records (${USER_RULE}); recorded the account instead`);
  }
  return { user: account, via: 'account', account, notes };
}

/** The identity in words: `alice (git)`, `bob (sudo as root)`, or the account alone. */
export function describeIdentity(identity: Identity): string {
  switch (identity.via) {
    case 'ssh key':
      return identity.user === identity.account ? identity.user : `${identity.user} (${identity.account})`;
    case 'sudo':
      return `${identity.user} (sudo as ${identity.account})`;
    case 'account':
      return identity.user;
  }
}

/** The person and the message of a request or a record, for another made on its behalf (absent ones stay absent). */
export function whoOf(from: { user?: string; message?: string }): { user?: string; message?: string } {
  return { ...(from.user === undefined ? {} : { user: from.user }), ...(from.message === undefined ? {} : { message: from.message }) };
}

/** What a push's options (`git push -o message=...`) told fanout. */
export interface PushOptions {
  message?: string;
  /** options fanout does not know, cleaned for a line */
  ignored: string[];
}

/** At most this many characters of a message are kept. */
export const MESSAGE_MAX = 200;
/** git hands a hook its push options as GIT_PUSH_OPTION_0..N-1; past this many, the rest are ignored. */
const OPTIONS_MAX = 32;

/**
 * The push options git handed the hook (GIT_PUSH_OPTION_COUNT, GIT_PUSH_OPTION_<n>; set only when
 * the repository has receive.advertisePushOptions true). `message=TEXT` is the deploy's message
 * (the last one given wins); any other option is ignored, and named.
 */
export function pushOptions(env: NodeJS.ProcessEnv): PushOptions {
  const count = Math.min(Number.parseInt(env.GIT_PUSH_OPTION_COUNT ?? '0', 10) || 0, OPTIONS_MAX);
  const result: PushOptions = { ignored: [] };
  for (let i = 0; i < count; i += 1) {
    const option = env[`GIT_PUSH_OPTION_${i}`];
    if (option === undefined) continue;
    const m = /^message=([\s\S]*)$/.exec(option);
    if (m === null) {
      result.ignored.push(oneLine(option, 40));
      continue;
    }
    const message = oneLine(m[1] ?? '', MESSAGE_MAX);
    if (message === '') delete result.message;
    else result.message = message;
  }
  return result;
}

// control characters (C0, DEL, C1), line and paragraph separators, bidirectional overrides and isolates
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g;

/** Text as one plain line of at most `max` characters: control characters become spaces, runs of spaces one. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(UNPRINTABLE, ' ').replace(/\s+/g, ' ').trim();
  // cut between characters as a person sees them, never inside one (an emoji, an accented letter)
  const chars = Array.from(new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(flat), (s) => s.segment);
  return chars.length <= max ? flat : `${chars.slice(0, max - 1).join('').trimEnd()}…`;
}
