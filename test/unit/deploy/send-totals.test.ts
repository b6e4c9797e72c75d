import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendTotals } from '../../../src/deploy/send-totals.js';
import { relPathFromBytes } from '../../../src/base/paths.js';
import type { SlotStep, TargetPlan } from '../../../src/engine/target-plan.js';
import type { SyncPlan } from '../../../src/engine/sync-plan.js';

let source: string;

beforeAll(() => {
  source = fs.mkdtempSync(path.join(os.tmpdir(), 'fanout-send-totals-'));
  fs.mkdirSync(path.join(source, 'css'));
  fs.writeFileSync(path.join(source, 'index.html'), 'x'.repeat(1000));
  fs.writeFileSync(path.join(source, 'css', 'site.css'), 'y'.repeat(24));
  fs.writeFileSync(path.join(source, 'empty.txt'), '');
  fs.symlinkSync('index.html', path.join(source, 'home.html'));
  // a Latin-1 name, not UTF-8: caf\xe9.html
  fs.writeFileSync(Buffer.concat([Buffer.from(`${source}/`), Buffer.from('caf\xe9.html', 'latin1')]), 'z'.repeat(5));
});

afterAll(() => {
  fs.rmSync(source, { recursive: true, force: true });
});

function target(name: string, sync: SyncPlan, slots?: SlotStep): TargetPlan {
  return { name, from: null, sync, preflight: undefined, alreadyAttempted: false, upToDate: false, slots };
}

const paths = (sends: string[]): SyncPlan => ({ kind: 'paths', sends, removals: [], prunes: [], changed: sends.length, deleted: 0, replacedDirectories: [] });

describe('sendTotals', () => {
  it('counts the files and symlinks a paths pass names, and the files\' bytes; directories carry nothing', () => {
    const totals = sendTotals(source, [target('web1', paths(['css', 'css/site.css', 'empty.txt', 'home.html', 'index.html']))]);
    expect(totals.get('web1')).toEqual({ files: 4, bytes: 1024 });
  });

  it('reads names as bytes, and leaves out a path that is not there', () => {
    const totals = sendTotals(source, [target('web1', paths([relPathFromBytes(Buffer.from('caf\xe9.html', 'latin1')), 'gone.html']))]);
    expect(totals.get('web1')).toEqual({ files: 1, bytes: 5 });
  });

  it('knows no total ahead for a full pass, and nothing to send for a target up to date or one that only switches', () => {
    const only = { stage: undefined, switchTo: '2', repair: undefined };
    const totals = sendTotals(source, [target('web1', { kind: 'full', why: 'state unknown', sweep: true }), target('web2', { kind: 'none' }), target('web3', paths(['index.html']), only)]);
    expect([...totals]).toEqual([
      ['web1', undefined],
      ['web2', { files: 0, bytes: 0 }],
      ['web3', { files: 0, bytes: 0 }],
    ]);
  });

  it('gives each target its own total from the paths it names', () => {
    const totals = sendTotals(source, [target('web1', paths(['index.html'])), target('web2', paths(['index.html', 'css/site.css']))]);
    expect(totals.get('web1')).toEqual({ files: 1, bytes: 1000 });
    expect(totals.get('web2')).toEqual({ files: 2, bytes: 1024 });
  });
});
