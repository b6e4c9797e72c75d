import { setTimeout as sleep } from 'node:timers/promises';
import type { Checks, Target } from '../base/config.js';
import { childEnvironment, firstLine, run } from '../base/exec.js';
import type { Commit } from '../base/git.js';
import type { Logger } from '../base/log.js';

/** What a check of one target found: ok, or the answer that failed it, in one line. */
export interface CheckResult {
  target: string;
  ok: boolean;
  /** `HTTP 200`, `HTTP 500: <first line of the body>`, `exit 1: <first line of stderr>` */
  detail: string;
  attempts: number;
  durationMs: number;
  /** when it finished (ISO time) */
  at: string;
}

/** The host a target's checks name as {host}: its dest's host, or localhost for a local directory. */
export function targetHost(target: Target): string {
  return target.dest.kind === 'local' ? 'localhost' : target.dest.host;
}

/** {host} and {commit} in a check's URL or body. */
export function expandCheck(template: string, facts: { host: string; commit: Commit }): string {
  return template.replaceAll('{host}', facts.host).replaceAll('{commit}', facts.commit);
}

/** An HTTP answer against what the check expects: undefined when it passes, else why not. */
export function judgeResponse(status: number, body: string, expected: { status: number; body: string | undefined }): string | undefined {
  const begins = firstLine(body).slice(0, 200);
  if (status !== expected.status) return `HTTP ${status}${begins === '' ? '' : `: ${begins}`} (expected ${expected.status})`;
  if (expected.body !== undefined && !body.includes(expected.body)) return `HTTP ${status}, but the body lacks "${expected.body}"${begins === '' ? '' : ` (it begins: ${begins})`}`;
  return undefined;
}

const BODY_LIMIT = 256 * 1024;

async function httpOnce(url: string, checks: Checks, expectedBody: string | undefined): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(checks.timeoutMs), redirect: 'manual', headers: { 'user-agent': 'fanout-check' } });
    const body = (await response.text()).slice(0, BODY_LIMIT);
    return judgeResponse(response.status, body, { status: checks.status, body: expectedBody });
  } catch (error) {
    const cause = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
    return `GET ${url}: ${error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${checks.timeoutMs / 1000}s` : cause}`;
  }
}

async function commandOnce(command: readonly string[], checks: Checks, env: Record<string, string>, log: Logger): Promise<string | undefined> {
  const [program = '', ...args] = command;
  const result = await run(program, args, { env: { ...childEnvironment(), ...env }, timeoutMs: checks.timeoutMs, log });
  if (result.spawnError !== undefined) return result.spawnError;
  if (result.timedOut) return `${program} did not finish within ${checks.timeoutMs / 1000}s`;
  if (result.exitCode === 0) return undefined;
  const said = firstLine(result.stderr) || firstLine(result.stdout);
  return `exit ${result.exitCode}${said === '' ? '' : `: ${said.slice(0, 200)}`}`;
}

/**
 * Check one target the way a visitor would: after `settle`, its URL (and/or the command) until it
 * passes or the retries are spent. The URL's {host} is the target's host, {commit} the sha.
 */
export async function checkTarget(target: Target, checks: Checks, facts: { commit: Commit; slot: string | undefined }, log: Logger): Promise<CheckResult> {
  const started = performance.now();
  const host = targetHost(target);
  if (checks.settleMs > 0) await sleep(checks.settleMs);
  const env = { FANOUT_TARGET: target.name, FANOUT_HOST: host, FANOUT_COMMIT: facts.commit, FANOUT_SLOT: facts.slot ?? '' };
  const url = target.checkUrl === undefined ? undefined : expandCheck(target.checkUrl, { host, commit: facts.commit });
  const body = checks.body === undefined ? undefined : expandCheck(checks.body, { host, commit: facts.commit });
  let failure: string | undefined;
  let attempts = 0;
  for (let attempt = 0; attempt <= checks.retries; attempt += 1) {
    if (attempt > 0) await sleep(checks.retryDelayMs);
    attempts += 1;
    failure = url === undefined ? undefined : await httpOnce(url, checks, body);
    if (failure === undefined && checks.command !== undefined) failure = await commandOnce(checks.command, checks, env, log);
    if (failure === undefined) break;
  }
  const result: CheckResult = {
    target: target.name,
    ok: failure === undefined,
    detail: failure ?? (url === undefined ? 'command passed' : `HTTP ${checks.status}`),
    attempts,
    durationMs: Math.round(performance.now() - started),
    at: new Date().toISOString(),
  };
  log[result.ok ? 'info' : 'warn']({ ...result, url }, 'check');
  return result;
}
