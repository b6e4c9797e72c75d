import { describe, expect, it } from 'vitest';
import { describeDest, parseDest, rsyncDestArg, type Dest } from '../../../src/base/dest.js';
import { FanoutError } from '../../../src/base/errors.js';

/** The error parseDest throws for `dest`, checked to be the operator-facing kind. */
function rejection(dest: string): FanoutError {
  let caught: unknown;
  try {
    parseDest(dest);
  } catch (error) {
    caught = error;
  }
  expect(caught, `parseDest(${JSON.stringify(dest)}) should throw`).toBeInstanceOf(FanoutError);
  const error = caught as FanoutError;
  expect(error.exitCode).toBe(2);
  expect(error.message).toContain(`dest ${JSON.stringify(dest)}`);
  return error;
}

describe('parseDest: rsync daemon, host::module form', () => {
  it('reads user@host::module', () => {
    expect(parseDest('www1@192.168.9.226::web1')).toEqual({
      kind: 'daemon',
      user: 'www1',
      host: '192.168.9.226',
      port: undefined,
      module: 'web1',
      path: '',
    });
  });

  it('reads host::module without a user', () => {
    expect(parseDest('web1.example.com::site')).toEqual({
      kind: 'daemon',
      user: undefined,
      host: 'web1.example.com',
      port: undefined,
      module: 'site',
      path: '',
    });
  });

  it('reads a sub-path inside the module, without leading or trailing slashes', () => {
    expect(parseDest('deploy@web2::www/sub/path')).toEqual({
      kind: 'daemon',
      user: 'deploy',
      host: 'web2',
      port: undefined,
      module: 'www',
      path: 'sub/path',
    });
    expect(parseDest('deploy@web2::www/sub/path/')).toMatchObject({ module: 'www', path: 'sub/path' });
    expect(parseDest('deploy@web2::www/')).toMatchObject({ module: 'www', path: '' });
  });

  it('reads a bracketed IPv6 host', () => {
    expect(parseDest('www1@[::1]::web1')).toEqual({
      kind: 'daemon',
      user: 'www1',
      host: '[::1]',
      port: undefined,
      module: 'web1',
      path: '',
    });
    expect(parseDest('[fe80::1]::m/x')).toMatchObject({ kind: 'daemon', user: undefined, host: '[fe80::1]', module: 'm', path: 'x' });
  });
});

describe('parseDest: rsync daemon, rsync:// URL form', () => {
  it('reads rsync://user@host:port/module/path', () => {
    expect(parseDest('rsync://www1@127.0.0.2:8730/web1/htdocs/site')).toEqual({
      kind: 'daemon',
      user: 'www1',
      host: '127.0.0.2',
      port: 8730,
      module: 'web1',
      path: 'htdocs/site',
    });
  });

  it('reads rsync://host/module without user, port or path', () => {
    expect(parseDest('rsync://web3/site')).toEqual({
      kind: 'daemon',
      user: undefined,
      host: 'web3',
      port: undefined,
      module: 'site',
      path: '',
    });
    expect(parseDest('rsync://web3/site/')).toMatchObject({ module: 'site', path: '' });
  });

  it('trims slashes around the path', () => {
    expect(parseDest('rsync://web3/site/a/b/')).toMatchObject({ module: 'site', path: 'a/b' });
  });

  it('reads a bracketed IPv6 host with a port', () => {
    expect(parseDest('rsync://u@[::1]:873/m/x')).toEqual({
      kind: 'daemon',
      user: 'u',
      host: '[::1]',
      port: 873,
      module: 'm',
      path: 'x',
    });
  });

  it('accepts the extreme valid ports', () => {
    expect(parseDest('rsync://h:1/m')).toMatchObject({ port: 1 });
    expect(parseDest('rsync://h:65535/m')).toMatchObject({ port: 65535 });
  });
});

describe('parseDest: ssh', () => {
  it('reads user@host:/path', () => {
    expect(parseDest('deploy@192.168.9.228:/data/www/')).toEqual({
      kind: 'ssh',
      user: 'deploy',
      host: '192.168.9.228',
      path: '/data/www/',
    });
  });

  it('reads host:/path without a user', () => {
    expect(parseDest('web2:/data/www')).toEqual({ kind: 'ssh', user: undefined, host: 'web2', path: '/data/www' });
  });

  it('reads host:relative (relative to the remote home directory)', () => {
    expect(parseDest('web2:www/site')).toEqual({ kind: 'ssh', user: undefined, host: 'web2', path: 'www/site' });
  });
});

describe('parseDest: local', () => {
  it('reads an absolute path', () => {
    expect(parseDest('/srv/mirror/www/')).toEqual({ kind: 'local', path: '/srv/mirror/www/' });
    expect(parseDest('/srv/mirror/www')).toEqual({ kind: 'local', path: '/srv/mirror/www' });
  });

  it('normalizes the path', () => {
    expect(parseDest('/srv//mirror/./old/../www')).toEqual({ kind: 'local', path: '/srv/mirror/www' });
  });

  it('takes an absolute path with "::" in it as local, not as a daemon', () => {
    expect(parseDest('/srv/a::b')).toEqual({ kind: 'local', path: '/srv/a::b' });
  });
});

describe('parseDest: rejections', () => {
  it('rejects an empty dest', () => {
    expect(rejection('').message).toMatch(/empty/);
  });

  it('rejects spaces around the dest', () => {
    expect(rejection(' /srv/www').message).toMatch(/spaces/);
    expect(rejection('/srv/www ').message).toMatch(/spaces/);
    expect(rejection('www1@host::web1\n').message).toMatch(/spaces/);
  });

  it('rejects an ssh host or user beginning with "-" (ssh would read it as an option: -oProxyCommand=...)', () => {
    expect(rejection('-oProxyCommand=evil:/srv/www').message).toMatch(/beginning with "-" would be read by ssh as an option/);
    expect(rejection('deploy@-oProxyCommand=x:/srv/www').message).toMatch(/beginning with "-"/);
    expect(rejection('-ouser@host:/srv/www').message).toMatch(/beginning with "-"/);
    expect(rejection('-x::web1').message).toMatch(/beginning with "-"/);
    expect(parseDest('web-1:/srv/www')).toMatchObject({ kind: 'ssh', host: 'web-1' });
  });

  it('rejects host:: without a module', () => {
    expect(rejection('host::').message).toContain('host::module');
    expect(rejection('user@host::').message).toContain('host::module');
    expect(rejection('::web1').message).toContain('host::module');
  });

  it('rejects rsync://host without a module', () => {
    expect(rejection('rsync://host').message).toContain('rsync://');
    expect(rejection('rsync://user@host:873').message).toContain('rsync://');
  });

  it('rejects a port out of range, naming it', () => {
    expect(rejection('rsync://host:70000/web').message).toContain('70000');
    expect(rejection('rsync://host:0/web').message).toContain('port 0');
  });

  it('rejects an empty or non-numeric port', () => {
    rejection('rsync://host:/web');
    rejection('rsync://host:http/web');
  });

  it('rejects a relative local path', () => {
    const error = rejection('foo');
    expect(error.message).toContain('absolute');
    rejection('srv/www');
    rejection('./www');
  });

  it('rejects an ssh dest with an empty path', () => {
    rejection('deploy@host:');
  });

  it('rejects a doubled @', () => {
    rejection('u@@host::web');
  });

  it('rejects with a one-line message', () => {
    for (const bad of ['', 'foo', 'host::', 'rsync://host', 'rsync://host:70000/web']) {
      expect(rejection(bad).message).not.toContain('\n');
    }
  });
});

describe('rsyncDestArg', () => {
  it('turns every daemon form into an rsync:// URL ending in a slash', () => {
    expect(rsyncDestArg(parseDest('www1@192.168.9.226::web1'))).toBe('rsync://www1@192.168.9.226/web1/');
    expect(rsyncDestArg(parseDest('web3::site'))).toBe('rsync://web3/site/');
    expect(rsyncDestArg(parseDest('deploy@web2::www/sub/path'))).toBe('rsync://deploy@web2/www/sub/path/');
    expect(rsyncDestArg(parseDest('rsync://www1@127.0.0.2:8730/web1/htdocs/'))).toBe('rsync://www1@127.0.0.2:8730/web1/htdocs/');
    expect(rsyncDestArg(parseDest('rsync://web3/site'))).toBe('rsync://web3/site/');
    expect(rsyncDestArg(parseDest('rsync://u@[::1]:873/m'))).toBe('rsync://u@[::1]:873/m/');
  });

  it('keeps the ssh form, with a trailing slash', () => {
    expect(rsyncDestArg(parseDest('deploy@192.168.9.228:/data/www'))).toBe('deploy@192.168.9.228:/data/www/');
    expect(rsyncDestArg(parseDest('deploy@192.168.9.228:/data/www/'))).toBe('deploy@192.168.9.228:/data/www/');
    expect(rsyncDestArg(parseDest('web2:www'))).toBe('web2:www/');
  });

  it('gives a local path with a trailing slash', () => {
    expect(rsyncDestArg(parseDest('/srv/mirror/www'))).toBe('/srv/mirror/www/');
    expect(rsyncDestArg(parseDest('/srv/mirror/www/'))).toBe('/srv/mirror/www/');
    expect(rsyncDestArg(parseDest('/'))).toBe('/');
  });

  it('builds from a hand-made Dest', () => {
    const dest: Dest = { kind: 'daemon', user: undefined, host: '10.0.0.1', port: 874, module: 'www', path: 'a/b' };
    expect(rsyncDestArg(dest)).toBe('rsync://10.0.0.1:874/www/a/b/');
  });
});

describe('describeDest', () => {
  it('shows host, port, module and path of a daemon, without the user', () => {
    expect(describeDest(parseDest('www1@192.168.9.226::web1'))).toBe('192.168.9.226::web1');
    expect(describeDest(parseDest('rsync://www1@127.0.0.2:8730/web1/htdocs/'))).toBe('127.0.0.2:8730::web1/htdocs');
    expect(describeDest(parseDest('deploy@web2::www/sub'))).toBe('web2::www/sub');
  });

  it('shows host and path of an ssh target, without the user', () => {
    expect(describeDest(parseDest('deploy@192.168.9.228:/data/www/'))).toBe('192.168.9.228:/data/www/');
  });

  it('shows a local path as it is', () => {
    expect(describeDest(parseDest('/srv/mirror/www'))).toBe('/srv/mirror/www');
  });

  it('never contains the user name', () => {
    for (const dest of ['secretuser@h::m', 'rsync://secretuser@h:873/m/p', 'secretuser@h:/p']) {
      expect(describeDest(parseDest(dest))).not.toContain('secretuser');
    }
  });
});

describe('parseDest: ssh to IPv6 and odd paths', () => {
  it('reads ssh to a bracketed IPv6 host', () => {
    expect(parseDest('deploy@[::1]:/srv/www')).toEqual({ kind: 'ssh', user: 'deploy', host: '[::1]', path: '/srv/www' });
    expect(parseDest('[2001:db8::5]:/srv/www')).toEqual({ kind: 'ssh', user: undefined, host: '[2001:db8::5]', path: '/srv/www' });
  });

  it('reads a "::" inside an ssh path as part of the path', () => {
    expect(parseDest('host:/a::b')).toEqual({ kind: 'ssh', user: undefined, host: 'host', path: '/a::b' });
  });

  it('refuses spaces in a host and control characters anywhere, in one line', () => {
    for (const dest of ['web 1::mod', 'my host:/p', 'h\n:/p', 'h:/p\nq']) {
      expect(() => parseDest(dest)).toThrow(/^dest "[^\n]*$/);
    }
  });
});
