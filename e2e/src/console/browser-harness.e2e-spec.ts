import { existsSync, statSync } from 'node:fs';
import { launchBrowser, screenshot, type TestBrowser } from '../test-support/browser';
import { startConsoleCluster, type ConsoleCluster } from '../test-support/console-cluster';

// The harness of the console's browser tests (issue 16), proven on its own: Chromium starts headless, reaches the
// controller of a two-worker cluster and writes a screenshot artifact.
describe('browser test harness', () => {
  let cluster: ConsoleCluster;
  let browser: TestBrowser;

  beforeAll(async () => {
    cluster = await startConsoleCluster('harness');
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  it('opens the controller in Chromium, reads its answer and keeps a screenshot', async () => {
    const page = await browser.newPage();
    const response = await page.goto(`${cluster.url}/v1/`);
    expect(response?.status()).toBe(200);
    const body = JSON.parse(await page.locator('pre').first().innerText()) as unknown;
    expect(body).toEqual(expect.any(Object));

    const path = await screenshot(page, 'browser-harness');
    expect(existsSync(path)).toBe(true);
    expect(statSync(path).size).toBeGreaterThan(0);
  });

  it('signs in a second account with the roles the test gave it', async () => {
    const reader = await cluster.createAccount('harness-reader', ['compute:read']);
    const page = await browser.newPage({ width: 480, height: 800 });
    const basic = Buffer.from(`${reader.name}:${reader.token}`).toString('base64');
    await page.setExtraHTTPHeaders({ authorization: `Basic ${basic}` });
    const response = await page.goto(`${cluster.url}/v1/workers`);
    expect(response?.status()).toBe(200);
    const workers = JSON.parse(await page.locator('pre').first().innerText()) as { name: string }[];
    expect(workers.map((w) => w.name).sort()).toEqual([...cluster.workerNames].sort());
  });
});
