// set by scripts/build.mjs; absent when the sources run as they are (the unit tests)
declare const FANOUT_VERSION: string | undefined;
declare const FANOUT_BUILT_FROM: string | undefined;

/** `fanout --version`: the version and the commit the build was made from. */
export function versionLine(): string {
  const version = typeof FANOUT_VERSION === 'string' ? FANOUT_VERSION : 'unbuilt';
  const from = typeof FANOUT_BUILT_FROM === 'string' ? FANOUT_BUILT_FROM : 'unknown';
  return `fanout ${version} (commit ${from})`;
}
