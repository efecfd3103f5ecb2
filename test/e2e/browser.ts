import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

/** Debian's Chromium: nothing is downloaded; `.ci/run` installs it. */
export const CHROMIUM = process.env.PGEVENTS_CHROMIUM ?? '/usr/bin/chromium';

// Headless flags that work in a container without a GPU or network; playwright gives every
// launch a fresh profile directory of its own.
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/**
 * Why the browser suite cannot run here, or null. Locally a missing Chromium skips the suite; with
 * CI=true it fails the run instead.
 */
export function browserUnavailable(): string | null {
  if (existsSync(CHROMIUM)) return null;
  const reason = `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`;
  if (process.env.CI === 'true') throw new Error(`CI=true requires the console e2e suite, but ${reason}`);
  return reason;
}

/** Launches Chromium; the generous timeout is for a machine loaded by other work. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 120_000 });
}

const ARTIFACTS = process.env.PGEVENTS_E2E_ARTIFACTS ?? new URL('../.cache/e2e-artifacts/', import.meta.url).pathname;

/** Saves a screenshot of the page as a test artifact; returns its path. */
export async function keepScreenshot(page: Page, engine: string, name: string): Promise<string> {
  const dir = join(ARTIFACTS, engine);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: false, animations: 'disabled' });
  return path;
}

/**
 * Collects requests that leave this machine (the console must make none) and errors in the page.
 */
export function watchPage(page: Page): { problems: string[] } {
  const problems: string[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    const local = url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
    if (!local && url.protocol !== 'data:' && url.protocol !== 'about:') problems.push(`external request: ${url.href}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 40[13]|ERR_CONNECTION_REFUSED|EventSource/.test(message.text())) {
      problems.push(`console error: ${message.text()}`);
    }
  });
  return { problems };
}
