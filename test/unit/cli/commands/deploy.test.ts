import { describe, expect, it } from 'vitest';
import { FanoutError } from '../../../../src/base/errors.js';
import { maxDeleteOption } from '../../../../src/cli/commands/deploy.js';

describe('--max-delete', () => {
  it('is a whole number of files, 1 or more, or not given', () => {
    expect(maxDeleteOption(undefined)).toEqual({});
    expect(maxDeleteOption(1)).toEqual({ maxDelete: 1 });
    expect(maxDeleteOption(5000)).toEqual({ maxDelete: 5000 });
  });

  it('anything else is bad input, said in the operator\'s words', () => {
    for (const bad of [0, -3, 2.5, Number.NaN]) {
      expect(() => maxDeleteOption(bad)).toThrow(FanoutError);
      expect(() => maxDeleteOption(bad)).toThrow('--max-delete takes a whole number of files, 1 or more');
    }
  });
});
