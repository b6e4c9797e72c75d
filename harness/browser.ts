import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's chromium, headless, driven by playwright-core (which brings no browser of its own).
 * Missing, it is an error that says how to install it: a test that needs a browser never passes
 * by skipping.
 */
export const CHROMIUM = '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Debian's chromium is not installed (${CHROMIUM} is missing): apt-get install --no-install-recommends chromium, or run scripts/setup as root`);
  return chromium.launch({
    executablePath: CHROMIUM,
    // as root, chromium refuses to start with its sandbox; nothing it opens here is from the network
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
