import { describe, expect, it } from 'vitest';
import { checksText } from '../../../../src/cli/commands/doctor.js';

describe('fanout doctor, for a terminal', () => {
  it('a row per check; a problem says what fixes it, when something does', () => {
    const text = checksText(
      [
        { name: 'rsync', ok: true, detail: 'rsync 3.2.7' },
        { name: 'config', ok: false, detail: 'cannot read /etc/fanout/fanout.yaml' },
        { name: 'web1', ok: false, detail: 'auth failed', fix: 'check passwordFile' },
      ],
      false,
    );
    expect(text.split('\n')).toEqual([
      '         CHECK   FINDING',
      'ok       rsync   rsync 3.2.7',
      'problem  config  cannot read /etc/fanout/fanout.yaml',
      'problem  web1    auth failed; fix: check passwordFile',
      '',
    ]);
  });
});
