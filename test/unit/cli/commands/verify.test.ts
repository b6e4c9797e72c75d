import { describe, expect, it } from 'vitest';
import { verifyText } from '../../../../src/cli/commands/verify.js';

describe('fanout verify, for a terminal', () => {
  it('a line per target, names aligned; nothing to repair when all are the same', () => {
    expect(
      verifyText(
        [
          { name: 'web1', status: 'same', items: [] },
          { name: 'edge-2', status: 'same', items: [] },
        ],
        false,
      ),
    ).toBe('web1    same   identical to the source\nedge-2  same   identical to the source\n');
  });

  it('the paths that differ under a drifted target, and how to repair or catch up', () => {
    const text = verifyText(
      [
        { name: 'web1', status: 'drift', items: ['>fcsT...... index.html', '*deleting   old.html'] },
        { name: 'web2', status: 'drift', items: ['>fcsT...... a.css'] },
        { name: 'web3', status: 'failed', items: [], error: 'cannot connect' },
      ],
      false,
    );
    expect(text).toBe(
      [
        'web1  drift  2 paths differ:',
        '        >fcsT...... index.html',
        '        *deleting   old.html',
        'web2  drift  1 path differs:',
        '        >fcsT...... a.css',
        'web3  failed cannot connect',
        'repair with: fanout sync --full --target web1 --target web2',
        'once it answers, catch it up with: fanout sync --target web3',
        '',
      ].join('\n'),
    );
  });

  it('with --all-slots, a slot is named beside its target and compared with the commit it holds', () => {
    const text = verifyText(
      [
        { name: 'web1', slot: 'current', status: 'same', items: [] },
        { name: 'web1', slot: '2', status: 'same', items: [] },
      ],
      false,
    );
    expect(text).toBe('web1         same   identical to the source\nweb1 slot 2  same   identical to the commit it holds\n');
  });
});
