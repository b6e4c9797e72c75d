import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GIT_IDENTITY, createFarm, type Farm, type Ran } from '../../../harness/farm.js';
import { startSshd, type Sshd } from '../../../harness/sshd.js';

// Who pushed, through a real sshd: each developer's key has its own line in the update server's
// authorized_keys, which names the developer as docs/guides/identity.md shows; git passes the name on to the
// hook, and fanout records it. A push option carries a message.

let farm: Farm | undefined;
let sshd: Sshd | undefined;
let sshdRoot: string;
/** the file the operator's hooks write their FANOUT_* environment to, one run after another */
let hookLog: string;
const keys: Record<string, string> = {};

beforeAll(async () => {
  sshdRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-who-sshd-'));
  // the guide's line (docs/guides/identity.md): sshd takes FANOUT_USER, and nothing else, from an authorized_keys line
  sshd = await startSshd({ hostIndex: 93, root: sshdRoot, extraConfig: ['PermitUserEnvironment FANOUT_USER'] });
  for (const name of ['alice', 'stranger', 'nameless', 'carol']) keys[name] = await sshd.newKey(name);
  const pub = (name: string): string => fs.readFileSync(`${keys[name] ?? ''}.pub`, 'utf8').trim();
  fs.writeFileSync(
    path.join(sshd.dir, 'authorized_keys'),
    [
      `environment="FANOUT_USER=alice" ${pub('alice')}`,
      // a name fanout does not record: bytes that would break a log line or a label
      `environment="FANOUT_USER=x\\" } evil=\\"1" ${pub('stranger')}`,
      pub('nameless'),
      // the forced command, for an account whose login shell is sh (here root's)
      `command="FANOUT_USER=carol exec git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"" ${pub('carol')}`,
      '',
    ].join('\n'),
  );
  farm = await createFarm({ targets: 1, firstHost: 97 });
  hookLog = path.join(farm.root, 'hooks.log');
  const hook = ['/bin/sh', '-c', `env | grep '^FANOUT_' | sort >> ${hookLog}; echo --- >> ${hookLog}`];
  farm.writeConfig({ hooks: { before: hook, after: hook } });
});

afterAll(async () => {
  await farm?.cleanup();
  await sshd?.stop();
  fs.rmSync(sshdRoot, { recursive: true, force: true });
});

function the(): { farm: Farm; sshd: Sshd } {
  if (farm === undefined || sshd === undefined) throw new Error('setup failed');
  return { farm, sshd };
}

/** A new commit, pushed over ssh with this developer's key. */
async function pushAs(key: string, subject: string, options: string[] = []): Promise<Ran> {
  const { farm, sshd } = the();
  farm.write({ 'index.html': subject });
  await farm.commit(subject);
  const ssh = `ssh -i ${keys[key] ?? ''} -o IdentitiesOnly=yes -o UserKnownHostsFile=${sshd.knownHostsFile} -o BatchMode=yes`;
  const url = `ssh://${sshd.user}@${sshd.address}:${sshd.port}${farm.repo}`;
  const result = await execa('git', ['push', ...options.flatMap((o) => ['-o', o]), url, 'HEAD:main'], { cwd: farm.clone, env: { ...GIT_IDENTITY, GIT_SSH_COMMAND: ssh }, reject: false });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** The environment each hook run was given, in order. */
function hookRuns(): Record<string, string>[] {
  const runs = fs.readFileSync(hookLog, 'utf8').split('---\n').filter((r) => r.trim() !== '');
  return runs.map((run) => Object.fromEntries(run.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])));
}

describe('who pushed, from the ssh key', () => {
  it("the key's name and the push's message: in the remote: summary, the history, status, the log, the metrics and the hooks", async () => {
    const { farm, sshd } = the();
    const push = await pushAs('alice', 'new footer', ['message=the footer said 2025']);
    expect(push.exitCode, push.stderr).toBe(0);
    expect(push.stderr).toMatch(/remote: deployed [0-9a-f]{10} "new footer" to 1\/1 targets in \S+; pushed by alice: "the footer said 2025"/);
    const entry = farm.history().at(-1);
    expect(entry).toMatchObject({ reason: 'push', startedBy: `git push by alice (${sshd.user})`, user: 'alice', message: 'the footer said 2025' });

    const status = await farm.fanout(['status']);
    expect(status.stdout).toContain(`(deploy #${entry?.id ?? 0}, git push by alice (${sshd.user}), `);
    expect(status.stdout).toContain('  message: "the footer said 2025"');
    const json = JSON.parse((await farm.fanout(['status', '--json'])).stdout) as { current: Record<string, unknown> };
    expect(json.current).toMatchObject({ user: 'alice', message: 'the footer said 2025' });

    const metrics = (await farm.fanout(['status', '--prometheus'])).stdout;
    expect(metrics).toMatch(/^fanout_last_deploy_info\{farm="[^"]*",reason="push",user="alice",commit="[0-9a-f]{40}"\} 1$/m);

    const started = fs.readFileSync(path.join(farm.stateDir, 'fanout.log'), 'utf8').split('\n').filter((l) => l.includes('"deploy started"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(started.at(-1)).toMatchObject({ user: 'alice', message: 'the footer said 2025', startedBy: `git push by alice (${sshd.user})` });

    const [before, after] = hookRuns().slice(-2);
    for (const run of [before, after]) expect(run).toMatchObject({ FANOUT_USER: 'alice', FANOUT_MESSAGE: 'the footer said 2025', FANOUT_STARTED_BY: `git push by alice (${sshd.user})` });
  });

  it('a key with no name: the account; a name fanout cannot record: the account, and the pusher is told', async () => {
    const { farm, sshd } = the();
    const plain = await pushAs('nameless', 'plain');
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(new RegExp(`remote: deployed .*; pushed by ${sshd.user} *$`, 'm'));
    expect(farm.history().at(-1)).toMatchObject({ startedBy: `git push by ${sshd.user}`, user: sshd.user });
    expect(farm.history().at(-1)).not.toHaveProperty('message');
    expect(hookRuns().at(-1)).not.toHaveProperty('FANOUT_MESSAGE');

    const odd = await pushAs('stranger', 'odd');
    expect(odd.exitCode, odd.stderr).toBe(0);
    expect(odd.stderr).toMatch(/remote: fanout: warning: FANOUT_USER is not a name fanout records/);
    expect(odd.stderr).not.toContain('evil');
    expect(farm.history().at(-1)).toMatchObject({ startedBy: `git push by ${sshd.user}`, user: sshd.user });
    expect(hookRuns().at(-1)).toMatchObject({ FANOUT_USER: sshd.user });
    // the log and the metrics stay well formed
    for (const line of fs.readFileSync(path.join(farm.stateDir, 'fanout.log'), 'utf8').trim().split('\n')) expect(() => JSON.parse(line) as unknown).not.toThrow();
    expect((await farm.fanout(['status', '--prometheus'])).stdout).toMatch(new RegExp(`^fanout_last_deploy_info\\{.*,user="${sshd.user}",.*\\} 1$`, 'm'));
  });

  it('the forced command names the developer too, where the account has a shell', async () => {
    const { farm, sshd } = the();
    const push = await pushAs('carol', 'by carol', ['ci.skip']);
    expect(push.exitCode, push.stderr).toBe(0);
    expect(push.stderr).toContain('remote: fanout: ignoring push option "ci.skip"');
    expect(farm.history().at(-1)).toMatchObject({ startedBy: `git push by carol (${sshd.user})`, user: 'carol' });
  });
});

describe('push options need the repository to take them', () => {
  it('doctor says when it does not; fanout init turns it on', async () => {
    const { farm } = the();
    farm.write({ 'index.html': 'not pushed' });
    await farm.commit('not pushed');
    // a repository made before fanout set it; the other cases push with options: put it back whatever happens
    await execa('git', ['--git-dir', farm.repo, 'config', 'receive.advertisePushOptions', 'false']);
    try {
      const refused = await farm.git(['push', '-o', 'message=why', 'origin', 'HEAD:main']);
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toMatch(/receiving end does not support push options/);
      const doctor = await farm.fanout(['doctor']);
      expect(doctor.stdout).toMatch(/problem +push options +.*receive\.advertisePushOptions is off.*fix: fanout init, or git --git-dir .* config receive\.advertisePushOptions true/);
      const init = await farm.fanout(['init']);
      expect(init.stdout).toContain(`set receive.advertisePushOptions in ${farm.repo}`);
      expect((await farm.fanout(['doctor'])).stdout).toMatch(/ok +push options +/);
    } finally {
      await execa('git', ['--git-dir', farm.repo, 'config', 'receive.advertisePushOptions', 'true']);
    }
  });
});
