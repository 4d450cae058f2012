import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from './paths';

/** Debian's chromium (scripts/ensure-chromium.sh installs it); `GROVE_CHROMIUM` names another binary. */
export const CHROMIUM_PATH = process.env.GROVE_CHROMIUM ?? '/usr/bin/chromium';

/** Where `screenshot` writes: the console's browser tests keep one PNG per page they visited (issue 16). */
export const CONSOLE_ARTIFACTS = join(REPO_ROOT, 'e2e', 'artifacts', 'console');

/** The longest a browser launch may take on a loaded 2-core machine. */
const LAUNCH_TIMEOUT_MS = 30_000;

export interface TestBrowser {
  browser: Browser;
  /**
   * A page in a context of its own (its own cookies, storage and viewport), e.g. one per signed-in account. The
   * context is closed with the browser.
   */
  newPage(options?: { width?: number; height?: number }): Promise<Page>;
  /** Closes the browser and removes its home directory; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Launches headless Chromium through playwright-core. As root Chromium needs `--no-sandbox`; everything that would
 * reach out to the network by itself (updates, sync, QUIC) is off so that a test only sees its own traffic. Playwright
 * gives each launch a fresh profile (user-data dir) and removes it on close; the browser's HOME is a fresh directory
 * too (removed by `close`), so nothing of a developer's own Chromium is read or written.
 */
export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}: run scripts/ensure-chromium.sh ` +
        '(or set GROVE_CHROMIUM to a Chromium binary)',
    );
  }
  const home = mkdtempSync(join(tmpdir(), 'grove-e2e-chromium-'));
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      timeout: LAUNCH_TIMEOUT_MS,
      env: { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_CACHE_HOME: join(home, '.cache') },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  } catch (err) {
    rmSync(home, { recursive: true, force: true });
    throw new Error(`could not launch Chromium (${CHROMIUM_PATH})`, { cause: err });
  }
  const contexts: BrowserContext[] = [];
  let closed: Promise<void> | undefined;
  return {
    browser,
    async newPage(options = {}) {
      const context = await browser.newContext({
        viewport: { width: options.width ?? 1280, height: options.height ?? 800 },
      });
      // Every wait of a test is bounded: a selector that never shows fails the test instead of hanging it.
      context.setDefaultTimeout(15_000);
      context.setDefaultNavigationTimeout(20_000);
      contexts.push(context);
      return context.newPage();
    },
    close: () =>
      (closed ??= (async () => {
        try {
          await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
          await browser.close();
        } finally {
          rmSync(home, { recursive: true, force: true });
        }
      })()),
  };
}

/**
 * Writes a full-page PNG of `page` to `e2e/artifacts/console/NAME.png` (a test artifact CI keeps), prints the path
 * and returns it.
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new Error(`screenshot name "${name}" must be letters, digits, ".", "_" or "-"`);
  }
  mkdirSync(CONSOLE_ARTIFACTS, { recursive: true });
  const path = join(CONSOLE_ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true, timeout: 15_000 });
  console.log(`screenshot: ${path}`);
  return path;
}
