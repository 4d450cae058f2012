import { waitFor } from '@grove/testing';
import type { Page } from 'playwright-core';
import { launchBrowser, screenshot, type TestBrowser } from '../test-support/browser';
import { startConsoleCluster, type ConsoleAccount, type ConsoleCluster } from '../test-support/console-cluster';

// Issue 16: the console's sign-in, Fleet and VMs pages in a real browser against a two-worker synthetic cluster —
// the live list (a VM created through the form turns running without a reload), the API's validation message,
// delete, a read-only account, and a narrow window.

/** Signs in through the console's form and waits for the VM list. */
async function signIn(page: Page, cluster: ConsoleCluster, account: ConsoleAccount): Promise<void> {
  await page.goto(cluster.consoleUrl());
  await page.fill('#signin-name', account.name);
  await page.fill('#signin-token', account.token);
  await page.click('button[type=submit]');
  await page.waitForSelector('#vms-title');
}

/** Marks the document: a marker still there later proves the page was not reloaded meanwhile. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { groveTestMarker: boolean }).groveTestMarker = true;
  });
}

function documentMarked(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { groveTestMarker?: boolean }).groveTestMarker === true);
}

describe('console: sign-in, fleet and VMs', () => {
  let cluster: ConsoleCluster;
  let browser: TestBrowser;

  beforeAll(async () => {
    cluster = await startConsoleCluster('fleet');
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  it('refuses a wrong token with a clear message and signs in with the admin token', async () => {
    const page = await browser.newPage();
    await page.goto(cluster.consoleUrl());
    await page.fill('#signin-name', cluster.admin.name);
    await page.fill('#signin-token', 'not-the-token');
    await page.click('button[type=submit]');
    await expect(page.locator('#signin-error').innerText()).resolves.toContain('Wrong service account name or token');
    await screenshot(page, 'console-sign-in');

    await page.fill('#signin-token', cluster.admin.token);
    await page.click('button[type=submit]');
    await page.waitForSelector('#vms-title');
    await expect(page.locator('.account-name').innerText()).resolves.toBe(cluster.admin.name);
    await page.click('.account-name');
    await expect(page.locator('.account-roles').innerText()).resolves.toContain('compute:write');

    await page.click('text=Sign out');
    await page.waitForSelector('#signin-name');
  });

  it('shows both workers on the Fleet page with their capacity', async () => {
    const page = await browser.newPage();
    await signIn(page, cluster, cluster.admin);
    await page.click('nav >> text=Fleet');
    for (const name of cluster.workerNames) {
      const card = page.locator(`[data-worker="${name}"]`);
      await card.waitFor();
      await expect(card.locator('.badge-online').innerText()).resolves.toBe('online');
      await expect(card.locator('.meter').count()).resolves.toBeGreaterThan(0);
    }
    await expect(page.locator('button[aria-label^="Drain"]').count()).resolves.toBe(2);
    await screenshot(page, 'console-fleet');
  });

  it('creates a VM through the form, shows it turn running without a reload, and deletes it', async () => {
    const page = await browser.newPage();
    await signIn(page, cluster, cluster.admin);
    await markDocument(page);
    await page.click('button:has-text("Create VM")');

    // A bad field: the API's 400 message is shown next to the form, and what was typed stays.
    await page.fill('input[name=name]', 'bad name');
    await page.fill('input[name=image]', 'any');
    await page.fill('textarea[name=labels]', 'team=console');
    await page.click('form button[type=submit]');
    const error = page.locator('form .form-error');
    await expect(error.innerText()).resolves.toContain('name contains restricted characters');
    await expect(page.inputValue('textarea[name=labels]')).resolves.toBe('team=console');
    // The field the API named is marked and takes the focus.
    await page.locator('input[name=name][aria-invalid=true]:focus').waitFor();
    await screenshot(page, 'console-create-error');

    // Workers carry no `team` label: without one the VM would wait. Clear it and create for real.
    await page.fill('textarea[name=labels]', '');
    await page.fill('input[name=name]', 'fleet-vm-1');
    await page.click('form button[type=submit]');
    await page.waitForSelector('text=Created fleet-vm-1');
    const row = page.locator('tr[data-vm="fleet-vm-1"]');
    await row.locator('.badge-running').waitFor({ timeout: 30_000 });
    await expect(row.locator('td[data-label="Worker"]').innerText()).resolves.toMatch(/^console-fleet-[12]$/);
    expect(await documentMarked(page)).toBe(true);
    await screenshot(page, 'console-vms');

    // Its page: spec and tabs.
    await row.locator('a', { hasText: 'fleet-vm-1' }).click();
    await page.waitForSelector('#spec-title');
    await expect(page.locator('nav.tabs a').allInnerTexts()).resolves.toEqual([
      'Overview',
      'Terminal',
      'Screen',
      'Ports',
    ]);
    await screenshot(page, 'console-vm');
    await page.click('nav >> text=VMs');

    await page.click('button[aria-label="Delete fleet-vm-1"]');
    await page.click('button:has-text("Yes, delete")');
    await row.waitFor({ state: 'detached' });
    await waitFor(
      'fleet-vm-1 deleted',
      async () => !(await cluster.client.vms.list()).some((vm) => vm.name === 'fleet-vm-1'),
      10_000,
      100,
    );
    expect(await documentMarked(page)).toBe(true);
  });

  it('drains a worker: pause, then the VMs left counted down to none; resume', async () => {
    await cluster.client.vms.create({ name: 'fleet-drain-1', image: 'any' });
    await waitFor(
      'fleet-drain-1 placed',
      async () => (await cluster.client.vms.get('fleet-drain-1')).worker || undefined,
      30_000,
      100,
    );
    const worker = (await cluster.client.vms.get('fleet-drain-1')).worker;
    try {
      const page = await browser.newPage();
      await signIn(page, cluster, cluster.admin);
      await page.click('nav >> text=Fleet');
      const card = page.locator(`[data-worker="${worker}"]`);
      await card.locator('a', { hasText: 'fleet-drain-1' }).waitFor();

      await page.click(`button[aria-label="Drain ${worker}"]`);
      await card.locator('text=Draining: 1 VM left (fleet-drain-1)').waitFor();
      await card.locator('.badge-paused').waitFor();
      expect((await cluster.client.workers.get(worker)).scheduling_paused).toBe(true);
      await screenshot(page, 'console-fleet-draining');

      await cluster.client.vms.delete('fleet-drain-1');
      await card.locator('text=Drained: no VMs left').waitFor();
      await page.click(`button[aria-label="Resume ${worker}"]`);
      await card.locator('.badge-online').waitFor();
      expect((await cluster.client.workers.get(worker)).scheduling_paused).toBe(false);
    } finally {
      // A failure half-way leaves the worker schedulable for the tests after this one.
      await cluster.client.workers.update(worker, { name: worker, scheduling_paused: false }).catch(() => undefined);
    }
  });

  it('filters the list by search text, status, worker and label', async () => {
    await cluster.client.vms.create({ name: 'fleet-filter-a', image: 'any', labels: {} });
    await cluster.client.vms.create({ name: 'fleet-filter-b', image: 'any', labels: { pool: 'nowhere' } });
    const page = await browser.newPage();
    await signIn(page, cluster, cluster.admin);
    const names = () => page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-vm')));
    await page.locator('tr[data-vm="fleet-filter-b"]').waitFor();
    await page.locator('tr[data-vm="fleet-filter-a"] .badge-running').waitFor({ timeout: 30_000 });

    await page.fill('input[type=search]', 'filter-a');
    await expect(names()).resolves.toEqual(['fleet-filter-a']);
    await page.fill('input[type=search]', '');
    // No worker has the label: the VM waits, and says why.
    await page.locator('select[aria-label="Filter by label"]').selectOption('pool=nowhere');
    await expect(names()).resolves.toEqual(['fleet-filter-b']);
    await expect(page.locator('tr[data-vm="fleet-filter-b"] .status-message').innerText()).resolves.toContain(
      'pool=nowhere',
    );
    await page.locator('select[aria-label="Filter by label"]').selectOption('');
    await page.locator('select[aria-label="Filter by status"]').selectOption('pending');
    await expect(names()).resolves.toContain('fleet-filter-b');
    await expect(names()).resolves.not.toContain('fleet-filter-a');
    await screenshot(page, 'console-vms-filtered');
    await cluster.client.vms.delete('fleet-filter-a');
    await cluster.client.vms.delete('fleet-filter-b');
  });

  it('stops a VM from its row: the power state changes and the list shows it', async () => {
    await cluster.client.vms.create({ name: 'fleet-stop-1', image: 'any' });
    const page = await browser.newPage();
    await signIn(page, cluster, cluster.admin);
    const row = page.locator('tr[data-vm="fleet-stop-1"]');
    await row.locator('.badge-running').waitFor({ timeout: 30_000 });
    await page.click('button[aria-label="Stop fleet-stop-1"]');
    await page.click('button:has-text("Yes, stop")');
    await row.locator('.badge', { hasText: 'stopped' }).waitFor();
    await expect(row.locator('button[aria-label="Stop fleet-stop-1"]').count()).resolves.toBe(0);
    expect((await cluster.client.vms.get('fleet-stop-1')).powerState).toBe('stopped');
    // Its status stays `running`: the terminal says it is stopped instead of retrying a shell that cannot start.
    await page.goto(cluster.consoleUrl('#/vms/fleet-stop-1/terminal'));
    await page.getByText('VM fleet-stop-1 is not running: it is stopped').waitFor();
    await expect(page.locator('.xterm').count()).resolves.toBe(0);
    await cluster.client.vms.delete('fleet-stop-1');
  });

  it('says when the live list is cut off, and catches up without a reload once the controller answers again', async () => {
    await cluster.client.vms.create({ name: 'fleet-keep-1', image: 'any' });
    await cluster.client.vms.create({ name: 'fleet-gone-1', image: 'any' });
    const page = await browser.newPage();
    // The test cuts the page off from the controller as a network failure would: it wraps the page's fetch to end the
    // open watch streams and to fail requests while "offline" (the console has no test hook of its own).
    await page.context().addInitScript(() => {
      const native = window.fetch.bind(window);
      const streams = new Set<AbortController>();
      let offline = false;
      (window as unknown as { groveTest: unknown }).groveTest = {
        cutOff() {
          offline = true;
          streams.forEach((c) => c.abort());
          streams.clear();
        },
        reconnect() {
          offline = false;
        },
      };
      window.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
        const url = input instanceof Request ? input.url : String(input);
        if (offline && url.includes('/v1/')) {
          return Promise.reject(new TypeError('Failed to fetch'));
        }
        if (!url.includes('watch=true')) {
          return native(input, init);
        }
        const cut = new AbortController();
        streams.add(cut);
        const signal = init?.signal ? AbortSignal.any([init.signal, cut.signal]) : cut.signal;
        return native(input, { ...init, signal });
      };
    });
    await signIn(page, cluster, cluster.admin);
    await markDocument(page);
    await page.locator('tr[data-vm="fleet-gone-1"]').waitFor();
    await page.locator('#vms-title .badge-running').waitFor();

    await page.evaluate(() => (window as unknown as { groveTest: { cutOff(): void } }).groveTest.cutOff());
    await page.locator('text=Reconnecting…').waitFor();
    await page.locator('.banner-error', { hasText: 'The controller is unreachable.' }).waitFor();
    await screenshot(page, 'console-vms-reconnecting');

    // Meanwhile: one VM created, one deleted.
    await cluster.client.vms.create({ name: 'fleet-new-1', image: 'any' });
    await cluster.client.vms.delete('fleet-gone-1');
    await page.evaluate(() => (window as unknown as { groveTest: { reconnect(): void } }).groveTest.reconnect());

    await page.locator('#vms-title .badge-running').waitFor({ timeout: 30_000 });
    await page.locator('tr[data-vm="fleet-new-1"]').waitFor();
    await page.locator('tr[data-vm="fleet-gone-1"]').waitFor({ state: 'detached' });
    await page.locator('.banner-error').waitFor({ state: 'detached' });
    await expect(page.locator('tr[data-vm="fleet-keep-1"]').count()).resolves.toBe(1);
    expect(await documentMarked(page)).toBe(true);
    await cluster.client.vms.delete('fleet-keep-1');
    await cluster.client.vms.delete('fleet-new-1');
  });

  it('shows a compute:read account everything but no button that changes anything', async () => {
    await cluster.client.vms.create({ name: 'fleet-read-1', image: 'any' });
    const reader = await cluster.createAccount('console-reader', ['compute:read']);
    const page = await browser.newPage();
    await signIn(page, cluster, reader);
    await page.locator('tr[data-vm="fleet-read-1"]').waitFor();
    await page.waitForSelector('text=Read only');
    await expect(page.locator('button:has-text("Create VM")').count()).resolves.toBe(0);
    await expect(page.locator('button[aria-label^="Delete"]').count()).resolves.toBe(0);
    await expect(page.locator('button[aria-label^="Stop"]').count()).resolves.toBe(0);
    await screenshot(page, 'console-vms-read-only');

    await page.click('nav >> text=Fleet');
    await page.locator(`[data-worker="${cluster.workerNames[0]}"]`).waitFor();
    await expect(page.locator('button[aria-label^="Pause"]').count()).resolves.toBe(0);
    await expect(page.locator('button[aria-label^="Drain"]').count()).resolves.toBe(0);
  });

  it('is usable with the keyboard alone: sign in, reach a row action, confirm, cancel with Escape', async () => {
    await cluster.client.vms.create({ name: 'fleet-keys-1', image: 'any' });
    const page = await browser.newPage();
    await page.goto(cluster.consoleUrl());
    await page.waitForSelector('#signin-name');
    await page.keyboard.type(cluster.admin.name);
    await page.keyboard.press('Tab');
    await page.keyboard.type(cluster.admin.token);
    await page.keyboard.press('Enter');
    await page.locator('tr[data-vm="fleet-keys-1"]').waitFor();

    const focused = () => page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? '');
    let presses = 0;
    while ((await focused()) !== 'Delete fleet-keys-1') {
      expect(++presses).toBeLessThan(80);
      await page.keyboard.press('Tab');
    }
    await page.keyboard.press('Enter');
    const focusedText = () => page.evaluate(() => document.activeElement?.textContent ?? '');
    await waitFor('the focus on the confirmation', async () => (await focusedText()) === 'Yes, delete', 5_000, 50);
    await page.keyboard.press('Escape');
    await waitFor('the focus back on Delete', async () => (await focused()) === 'Delete fleet-keys-1', 5_000, 50);
    await page.keyboard.press('Enter');
    await page.keyboard.press('Enter');
    await page.locator('tr[data-vm="fleet-keys-1"]').waitFor({ state: 'detached' });
  });

  it('still shows the VM list in a narrow window', async () => {
    await cluster.client.vms.create({ name: 'fleet-narrow-1', image: 'any' });
    const page = await browser.newPage({ width: 390, height: 800 });
    await signIn(page, cluster, cluster.admin);
    const row = page.locator('tr[data-vm="fleet-narrow-1"]');
    await row.waitFor();
    const box = await row.boundingBox();
    expect(box).not.toBeNull();
    expect(box!.x).toBeGreaterThanOrEqual(0);
    expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    await expect(row.locator('a', { hasText: 'fleet-narrow-1' }).isVisible()).resolves.toBe(true);
    await screenshot(page, 'console-vms-narrow');
  });

  // Last: it stops a worker of the suite's cluster.
  it("says on a VM's page and on the Fleet page when the VM's worker is gone", async () => {
    const { worker } = await cluster.runVm('fleet-lost-1');
    const page = await browser.newPage();
    await signIn(page, cluster, cluster.admin);
    await page.goto(cluster.consoleUrl('#/vms/fleet-lost-1'));
    await page.waitForSelector('#spec-title');
    await expect(page.locator(`text=Worker ${worker} has no session`).count()).resolves.toBe(0);

    await cluster.workers[cluster.workerNames.indexOf(worker)].stop();
    await page.locator(`text=Worker ${worker} has no session with the controller`).waitFor({ timeout: 30_000 });
    await screenshot(page, 'console-vm-worker-gone');

    await page.click('nav >> text=Fleet');
    await page.locator(`[data-worker="${worker}"] >> text=session none`).waitFor();
  });
});
