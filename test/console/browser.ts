/** Headless Chromium for the console tests: Debian's `chromium` package driven by puppeteer-core. */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Screenshots of the console tests (git-ignored; a few are copied to docs/console/). */
export const ARTIFACTS_DIR = path.join(ROOT, 'artifacts', 'console');

/** The Chromium binary: `VB_CHROMIUM_PATH`, else Debian's (scripts/ensure-system-deps.mjs installs it). */
export function chromiumPath(): string {
  const candidates = [process.env.VB_CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  const found = candidates.find((c): c is string => !!c && existsSync(c));
  if (!found)
    throw new Error(
      'no Chromium: run `apt-get install -y chromium` (or set VB_CHROMIUM_PATH to a Chrome binary)',
    );
  return found;
}

export async function launchBrowser(): Promise<Browser> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  return puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Root in CI containers has no user namespace for Chromium's sandbox; /dev/shm may be tiny.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run'],
    defaultViewport: { width: 1360, height: 900 },
  });
}

/** Saves a screenshot (the whole page, or the viewport) as `artifacts/console/<name>.png`. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS_DIR, `${name}.png`) as `${string}.png`, fullPage });
}
