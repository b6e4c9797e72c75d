import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { stopChild } from './rsyncd.js';

/** A real php-fpm (Debian's php8.2-fpm) on a unix socket, opcache on, started and stopped by pid. */
export interface PhpFpm {
  socket: string;
  /** the master's pid: SIGUSR2 reloads it, which resets opcache */
  pid: number;
  stop(): Promise<void>;
}

/** The php-fpm binary Debian installs (php-fpm8.2, ...), or undefined. */
export function phpFpmBinary(): string | undefined {
  const dir = '/usr/sbin';
  const found = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => /^php-fpm\d+\.\d+$/.test(n)).sort() : [];
  const last = found.at(-1);
  return last === undefined ? undefined : path.join(dir, last);
}

/**
 * php-fpm with `opcache.validate_timestamps=0` (default here), the usual production setting: PHP
 * serves the code it compiled for a path until opcache is reset; or revalidating every request.
 * Runs as root (-R) to read the test's private temp directories.
 */
export async function startPhpFpm(dir: string, options: { validateTimestamps?: boolean } = {}): Promise<PhpFpm> {
  const validate = options.validateTimestamps === true ? '1' : '0';
  const binary = phpFpmBinary();
  if (binary === undefined) throw new Error('php-fpm is not installed (apt-get install php-fpm)');
  fs.mkdirSync(dir, { recursive: true });
  const socket = path.join(dir, 'php.sock');
  const conf = path.join(dir, 'php-fpm.conf');
  fs.writeFileSync(
    conf,
    [
      '[global]',
      `pid = ${dir}/php-fpm.pid`,
      `error_log = ${dir}/php-fpm.log`,
      'daemonize = no',
      // a reload (SIGUSR2) lets requests in flight finish, as production should
      'process_control_timeout = 10s',
      '[www]',
      'user = root',
      'group = root',
      `listen = ${socket}`,
      'pm = static',
      'pm.max_children = 2',
      'php_admin_value[opcache.enable] = 1',
      `php_admin_value[opcache.validate_timestamps] = ${validate}`,
      'php_admin_value[opcache.revalidate_freq] = 0',
      '',
    ].join('\n'),
  );
  // file_update_protection=0: opcache otherwise leaves files under 2 s old uncompiled, and a test's
  // releases are that young; in production they are older, and cached like this
  const child: ResultPromise = execa(binary, ['-F', '-R', '-y', conf, '-d', 'opcache.enable=1', '-d', `opcache.validate_timestamps=${validate}`, '-d', 'opcache.revalidate_freq=0', '-d', 'opcache.file_update_protection=0'], {
    reject: false,
    stdin: 'ignore',
  });
  const deadline = Date.now() + 10_000;
  while (!fs.existsSync(socket)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      const ran = await child;
      throw new Error(`php-fpm did not start: ${String(ran.stderr)}`);
    }
    await sleep(20);
  }
  return {
    socket,
    pid: child.pid ?? 0,
    stop: () => stopChild(child),
  };
}
