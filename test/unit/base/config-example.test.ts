import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkPasswordFiles, parseConfig } from '../../../src/base/config.js';
import { FanoutError } from '../../../src/base/errors.js';

const example = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../config/fanout.example.yaml');

describe('config/fanout.example.yaml', () => {
  it('has only known fields and valid dests; only its password files are missing here', () => {
    const config = parseConfig(fs.readFileSync(example, 'utf8'), example);
    expect(config.targets.length).toBeGreaterThan(1);
    let error: unknown;
    try {
      checkPasswordFiles(config);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(FanoutError);
    expect((error as FanoutError).message).toContain('targets[0].passwordFile: "/etc/fanout/www1.pwd" does not exist');
  });
});
