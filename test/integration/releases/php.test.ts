import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFarm, type Farm } from '../../../harness/farm.js';
import { startWebServer, type WebServer } from '../../../harness/nginx.js';
import { phpFpmBinary, startPhpFpm, type PhpFpm } from '../../../harness/phpfpm.js';

// PHP's opcache against a symlink switch, with a real nginx and php-fpm in front of a target with
// slots, opcache.validate_timestamps=0: the check proves which code PHP really runs.

let farm: Farm | undefined;
let php: PhpFpm | undefined;
let web: WebServer | undefined;

afterEach(async () => {
  await web?.stop();
  await php?.stop();
  await farm?.cleanup();
  web = undefined;
  php = undefined;
  farm = undefined;
});

async function start(root: 'realpath' | 'document'): Promise<Farm> {
  const f = await createFarm({ targets: 1, firstHost: 250 });
  farm = f;
  const daemon = f.daemons[0];
  if (daemon === undefined) throw new Error('a daemon expected');
  php = await startPhpFpm(path.join(f.root, 'php'));
  web = await startWebServer({ hostIndex: 250, dir: path.join(f.root, 'nginx'), root: path.join(daemon.dir, 'current'), php: { socket: php.socket, root } });
  return f;
}

/** Push a release whose code (and the file it includes) says `code vN`, checked for that text. */
async function release(f: Farm, n: number, hooks: Record<string, unknown> = {}): Promise<string> {
  const daemon = f.daemons[0];
  if (daemon === undefined || web === undefined) throw new Error('not started');
  f.writeConfig(
    { layout: 'slots', slotGrace: 0, checks: { body: `code v${n} / lib v${n}`, retries: 1, retryDelay: 0.2 }, hooks },
    [{ name: daemon.name, dest: daemon.dest, passwordFile: daemon.passwordFile, checkUrl: `${web.origin}/index.php` }],
  );
  f.write({ 'index.php': `<?php require __DIR__ . '/lib.php'; echo "code v${n} / " . lib();\n`, 'lib.php': `<?php function lib() { return "lib v${n}"; }\n` });
  await f.commit(`v${n}`);
  return (await f.push()).stderr;
}

describe.skipIf(phpFpmBinary() === undefined)('PHP opcache and the switch', () => {
  it('with $document_root PHP keeps running the old code after the switch: the check catches it, and the farm goes back', async () => {
    const f = await start('document');
    expect(await release(f, 1)).toMatch(/remote: check web1: ok/);
    const second = await release(f, 2);
    // the symlink's own path is what opcache keyed the code by: v1 is served from the v2 release
    expect(second).toMatch(/remote: check web1: FAILED \(HTTP 200, but the body lacks "code v2 \/ lib v2" \(it begins: code v1 \/ lib v1\)/);
    expect(second).toMatch(/remote: rolling back web1 to/);
  });

  it('a revision file that is PHP (revision.php) is compiled like the code: a health page including it reports the code that really runs', async () => {
    const f = await start('realpath');
    const daemon = f.daemons[0];
    if (daemon === undefined || web === undefined) throw new Error('not started');
    const push = async (n: number, hooks: Record<string, unknown> = {}): Promise<string> => {
      f.writeConfig(
        { layout: 'slots', slotGrace: 0, revisionFile: 'revision.php', checks: { body: '{commit}', retries: 1, retryDelay: 0.2 }, hooks },
        [{ name: daemon.name, dest: daemon.dest, passwordFile: daemon.passwordFile, checkUrl: `${web?.origin ?? ''}/health.php` }],
      );
      f.write({ 'health.php': "<?php echo include __DIR__ . '/revision.php';\n", 'page.txt': `release ${n}` });
      await f.commit(`r${n}`);
      return (await f.push()).stderr;
    };
    expect(await push(1)).toMatch(/remote: check web1: ok/);
    expect(await push(2)).toMatch(/remote: check web1: ok/);
    // slot 1 reused: opcache answers with the sha it compiled there two releases ago
    expect(await push(3)).toMatch(/remote: check web1: FAILED \(HTTP 200, but the body lacks "[0-9a-f]{40}"/);
    const reload = ['/bin/sh', '-c', `kill -USR2 ${php?.pid ?? 0}; sleep 0.3`];
    expect(await push(4, { afterSwitch: reload })).toMatch(/remote: check web1: ok/);
    expect(await push(5, { afterSwitch: reload })).toMatch(/remote: check web1: ok/);
  });

  it('with $realpath_root a new release path is new code; a reused slot needs the opcache reset an afterSwitch hook gives', async () => {
    const f = await start('realpath');
    expect(await release(f, 1)).toMatch(/remote: check web1: ok/);
    expect(await release(f, 2)).toMatch(/remote: check web1: ok/);
    // slot 1 again: opcache still holds what it compiled there two releases ago
    expect(await release(f, 3)).toMatch(/remote: check web1: FAILED \(HTTP 200, but the body lacks "code v3 \/ lib v3" \(it begins: code v1 \/ lib v1\)/);
    // php-fpm reloaded after each switch (what `systemctl reload php8.2-fpm` does): opcache starts empty
    const reload = ['/bin/sh', '-c', `kill -USR2 ${php?.pid ?? 0}; sleep 0.3`];
    expect(await release(f, 4, { afterSwitch: reload })).toMatch(/remote: check web1: ok/);
    expect(await release(f, 5, { afterSwitch: reload })).toMatch(/remote: check web1: ok/);
  });
});
