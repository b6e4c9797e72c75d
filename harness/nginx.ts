import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { freePort, listening, stopChild } from './rsyncd.js';

/** A real nginx on one loopback address, serving a document root, started and stopped by pid. */
export interface WebServer {
  address: string;
  port: number;
  /** http://ADDRESS:PORT */
  origin: string;
  stop(): Promise<void>;
}

export interface WebServerOptions {
  hostIndex: number;
  /** a directory of its own for the config, logs and temp files */
  dir: string;
  /** what it serves: a target's `current` with layout: slots, its dest in place */
  root: string;
  /**
   * PHP through php-fpm on this socket, the script's path given as `$realpath_root` (the release
   * `current` points to, resolved per request, as docs/guides/atomic-releases.md advises) or `$document_root` (the
   * symlink's own path, which PHP's opcache keeps serving after a switch)
   */
  php?: { socket: string; root: 'realpath' | 'document' };
}

/**
 * nginx as a web server in front of a target: `root` resolved per request through
 * `$realpath_root`, as docs/guides/atomic-releases.md advises for `current`. Runs as root's workers only so that it can
 * read the test's private temp directories.
 */
export async function startWebServer({ hostIndex, dir, root, php }: WebServerOptions): Promise<WebServer> {
  const address = `127.0.0.${hostIndex}`;
  const port = await freePort(address);
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    conf,
    [
      'daemon off;',
      'user root root;',
      'worker_processes 1;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log;`,
      'events { worker_connections 64; }',
      'http {',
      '  access_log off;',
      `  client_body_temp_path ${dir}/tmp/body; proxy_temp_path ${dir}/tmp/proxy; fastcgi_temp_path ${dir}/tmp/fastcgi; uwsgi_temp_path ${dir}/tmp/uwsgi; scgi_temp_path ${dir}/tmp/scgi;`,
      '  default_type text/plain;',
      '  server {',
      `    listen ${address}:${port};`,
      `    root ${root};`,
      '    disable_symlinks off;',
      '    location / { try_files $uri $uri/index.html =404; }',
      ...(php === undefined
        ? []
        : [
            '    location ~ \\.php$ {',
            '      include /etc/nginx/fastcgi_params;',
            `      fastcgi_pass unix:${php.socket};`,
            `      fastcgi_param SCRIPT_FILENAME $${php.root}_root$fastcgi_script_name;`,
            `      fastcgi_param DOCUMENT_ROOT $${php.root}_root;`,
            '    }',
          ]),
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const child: ResultPromise = execa('nginx', ['-c', conf, '-p', dir], { reject: false, stdin: 'ignore' });
  if (!(await listening(address, port, child))) {
    child.kill('SIGKILL');
    const ran = await child;
    throw new Error(`nginx did not start on ${address}:${port}: ${String(ran.stderr)}${fs.existsSync(path.join(dir, 'error.log')) ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8') : ''}`);
  }
  return {
    address,
    port,
    origin: `http://${address}:${port}`,
    stop: () => stopChild(child),
  };
}
