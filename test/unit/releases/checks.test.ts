import { describe, expect, it } from 'vitest';
import { expandCheck, judgeResponse, targetHost } from '../../../src/releases/checks.js';
import type { Commit } from '../../../src/base/git.js';
import { target } from '../target.js';

const C = 'c'.repeat(40) as Commit;

describe('checks: what a visitor would see, judged', () => {
  it('expands {host} and {commit}', () => {
    expect(expandCheck('http://{host}:8080/REVISION?c={commit}', { host: 'web1', commit: C })).toBe(`http://web1:8080/REVISION?c=${C}`);
    expect(targetHost(target('u@web7::site', { passwordFile: '/p' }))).toBe('web7');
    expect(targetHost(target('deploy@edge:/srv/www'))).toBe('edge');
    expect(targetHost(target('/srv/www'))).toBe('localhost');
  });

  it('passes on the expected status with the body holding the text; says why not otherwise', () => {
    expect(judgeResponse(200, `${C}\n`, { status: 200, body: C })).toBeUndefined();
    expect(judgeResponse(200, 'anything', { status: 200, body: undefined })).toBeUndefined();
    expect(judgeResponse(500, '\n<h1>Internal Server Error</h1>\nmore', { status: 200, body: undefined })).toBe('HTTP 500: <h1>Internal Server Error</h1> (expected 200)');
    expect(judgeResponse(404, '', { status: 200, body: undefined })).toBe('HTTP 404 (expected 200)');
    expect(judgeResponse(200, 'old-sha\n', { status: 200, body: C })).toBe(`HTTP 200, but the body lacks "${C}" (it begins: old-sha)`);
    expect(judgeResponse(301, '', { status: 301, body: undefined })).toBeUndefined();
  });
});
