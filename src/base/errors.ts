/**
 * The one error type an operator sees. Its message is the sentence printed (one line), written
 * where the failure is understood; `exitCode` follows DESIGN.md: 2 for bad usage, config or input,
 * 1 for a failed target or drift. Anything else thrown is a bug.
 */
export class FanoutError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 2,
  ) {
    super(message);
    this.name = 'FanoutError';
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A deploy refused before anything was touched: bad input (exit 2), or a release known to be bad
 * (exit 1). Recorded as the refusal it is, never as a failed deploy.
 */
export class Refusal extends FanoutError {}
