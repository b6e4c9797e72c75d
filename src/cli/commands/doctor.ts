import fs from 'node:fs';
import { loadConfig, type Config } from '../../base/config.js';
import { errorMessage } from '../../base/errors.js';
import { openLog, silentLogger } from '../../base/log.js';
import { selectTargets } from '../../deploy/deploy.js';
import { statusWord, stdoutOutput, table } from '../../engine/report.js';
import { checkPushOptions, checkRepository, checkSetup, checkTools, probeRelays, probeTargets, type Check } from '../../observe/doctor.js';
import type { GlobalArgs } from '../global-options.js';
import { writeJson } from '../print.js';
import { configSearch } from '../session.js';

/** `fanout doctor`: exit 1 unless every check passes. It works without a config, and says why there is none. */
export async function runDoctor(args: GlobalArgs): Promise<void> {
  const out = stdoutOutput();
  const checks = await doctorChecks(args.config, args.stage, args.target);
  const allOk = checks.every((c) => c.ok);
  process.exitCode = allOk ? 0 : 1;
  if (args.json) writeJson({ ok: allOk, checks });
  else out.write(checksText(checks, out.color));
}

/** The tools; then, if the config loads, the setup, the repository and each target named. */
async function doctorChecks(configOption: string | undefined, stage: string | undefined, only: readonly string[]): Promise<Check[]> {
  const checks: Check[] = await checkTools(silentLogger);
  let config: Config | undefined;
  try {
    const origin = configSearch(configOption);
    config = loadConfig(origin.file, origin, stage);
    checks.push({ name: 'config', ok: true, detail: config.file });
  } catch (error) {
    checks.push({ name: 'config', ok: false, detail: errorMessage(error) });
  }
  if (config !== undefined) {
    checks.push(...checkSetup(config), await checkRepository(config.repo), await checkPushOptions(config.repo));
    const log = fs.existsSync(config.stateDir) ? openLog(config.stateDir) : silentLogger;
    checks.push(...(await probeTargets(config, selectTargets(config, only), log)), ...(await probeRelays(config, selectTargets(config, only), log)));
  }
  return checks;
}

/** The checks for a terminal: a row each, and for a problem what fixes it. */
export function checksText(checks: readonly Check[], color: boolean): string {
  return table(
    ['', 'CHECK', 'FINDING'],
    checks.map((c) => [statusWord(c.ok ? 'ok' : 'problem', color), c.name, c.ok ? c.detail : `${c.detail}${c.fix === undefined ? '' : `; fix: ${c.fix}`}`]),
  );
}
