// How a person reads a size and a duration: in every line fanout prints, the progress line's too.

export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let unit = 0;
  while (unit < units.length - 1 && bytes >= 1000 ** (unit + 1) * (1 - 0.0005)) unit += 1;
  if (unit === 0) return `${bytes} B`;
  const value = bytes / 1000 ** unit;
  // rounded first, so 9,999 bytes reads "10 kB", not "10.0 kB"
  const shown = value < 9.95 ? value.toFixed(1) : value.toFixed(0);
  return `${shown} ${units[unit] ?? ''}`;
}

export function humanDuration(ms: number): string {
  if (ms < 1000) return `${(ms / 1000).toFixed(2)}s`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
}
