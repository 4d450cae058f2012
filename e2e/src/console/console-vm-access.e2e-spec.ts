import { waitFor } from '@grove/testing';
import type { BrowserContext, Page } from 'playwright-core';
import { launchBrowser, screenshot, type TestBrowser } from '../test-support/browser';
import { startConsoleCluster, type ConsoleAccount, type ConsoleCluster } from '../test-support/console-cluster';

// Issue 16: a running VM's Terminal (exec WebSocket), Screen (noVNC through the port-forward WebSocket to port 5900)
// and Ports (preview of an HTTP port) tabs in a real browser against a two-worker synthetic cluster.

const VM = 'access-1';

/** The terminal's text as xterm renders it (its DOM renderer: one element per row). */
function terminalText(page: Page): Promise<string> {
  return page.locator('.terminal-host .xterm-rows').innerText();
}

/** Types a command line into the focused terminal. */
async function typeLine(page: Page, line: string): Promise<void> {
  await page.locator('.terminal-host').click();
  await page.keyboard.type(`${line}\n`);
}

/** Waits until a line of the terminal matches `pattern` for the `nth` time (1-based); returns every matching line. */
function waitForLines(page: Page, what: string, pattern: RegExp, nth = 1): Promise<string[]> {
  return waitFor(
    what,
    async () => {
      const lines = (await terminalText(page)).split('\n').filter((line) => pattern.test(line.trim()));
      return lines.length >= nth ? lines : undefined;
    },
    15_000,
    100,
  );
}

/** Signs in through the console's form (as bootstrap-admin unless told) and waits for the VM list. */
async function signIn(page: Page, cluster: ConsoleCluster, account: ConsoleAccount = cluster.admin): Promise<void> {
  await page.goto(cluster.consoleUrl());
  await page.fill('#signin-name', account.name);
  await page.fill('#signin-token', account.token);
  await page.click('button[type=submit]');
  await page.waitForSelector('text=Sign out');
}

/**
 * Counts the pixels of noVNC's canvas that differ from its first pixel: a screen the VNC server drew on has many,
 * a blank canvas none.
 */
function paintedPixels(page: Page): Promise<{ width: number; height: number; painted: number }> {
  return page.$eval('.screen-host canvas', (canvas: HTMLCanvasElement) => {
    const context = canvas.getContext('2d');
    if (!context || canvas.width === 0 || canvas.height === 0) {
      return { width: canvas.width, height: canvas.height, painted: 0 };
    }
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 4; i < data.length; i += 4) {
      if (data[i] !== data[0] || data[i + 1] !== data[1] || data[i + 2] !== data[2]) {
        painted++;
      }
    }
    return { width: canvas.width, height: canvas.height, painted };
  });
}

/**
 * A measure of rows `from`–`to` of the VM's 1024×768 screen: `white` counts its pure-white pixels (the synthetic
 * screen's left-button dots), `checksum` changes when the server redraws them differently.
 */
function measureRows(page: Page, measure: 'white' | 'checksum', from: number, to: number): Promise<number> {
  return page.$eval(
    '.screen-host canvas',
    (canvas: HTMLCanvasElement, args: [string, number, number]) => {
      const [kind, top, bottom] = args;
      const data = canvas.getContext('2d')!.getImageData(0, top, canvas.width, bottom - top).data;
      let result = 0;
      if (kind === 'white') {
        for (let i = 0; i < data.length; i += 4) {
          if (data[i] === 255 && data[i + 1] === 255 && data[i + 2] === 255) {
            result++;
          }
        }
      } else {
        for (let i = 0; i < data.length; i++) {
          result = (result * 31 + data[i]) % 1_000_000_007;
        }
      }
      return result;
    },
    [measure, from, to] as [string, number, number],
  );
}

const whiteDots = (page: Page, from: number, to: number) => measureRows(page, 'white', from, to);
const rowsChecksum = (page: Page, from: number, to: number) => measureRows(page, 'checksum', from, to);

/** Drags with the left button across the screen's drawing area at row `y` of the VM's screen (768 rows). */
async function dragAcross(page: Page, y: number): Promise<void> {
  const box = (await page.locator('.screen-host canvas').boundingBox())!;
  const at = (fx: number) => ({ x: box.x + box.width * fx, y: box.y + (box.height * y) / 768 });
  await page.mouse.move(at(0.3).x, at(0.3).y);
  await page.mouse.down();
  await page.mouse.move(at(0.7).x, at(0.7).y, { steps: 10 });
  await page.mouse.up();
}

describe('console: terminal, screen and ports of a VM', () => {
  let cluster: ConsoleCluster;
  let browser: TestBrowser;
  let page: Page;

  beforeAll(async () => {
    cluster = await startConsoleCluster('vm-access');
    browser = await launchBrowser();
    await cluster.runVm(VM);
    page = await browser.newPage({ width: 1280, height: 800 });
    // The test breaks the terminal's WebSocket as a network failure would: it keeps a hand on every socket the page
    // opens (the console has no test hook of its own).
    await page.context().addInitScript(() => {
      const sockets: WebSocket[] = [];
      (window as unknown as { groveTestSockets: WebSocket[] }).groveTestSockets = sockets;
      // A Proxy, not a subclass: the page gets native WebSocket objects (noVNC checks a socket's prototype).
      window.WebSocket = new Proxy(window.WebSocket, {
        construct(target, args: [string | URL, (string | string[])?]) {
          const socket = new target(...args);
          sockets.push(socket);
          return socket;
        },
      });
    });
    await signIn(page, cluster);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  // The tests share one signed-in page; one that resized it does not leave the next with a small window.
  afterEach(async () => {
    await page?.setViewportSize({ width: 1280, height: 800 });
  });

  it('runs a shell in the VM: echo, resize, and a broken connection that the same shell survives', async () => {
    await page.goto(cluster.consoleUrl(`#/vms/${VM}/terminal`));
    await page.waitForSelector('.terminal-state-connected');

    await typeLine(page, 'echo hi');
    await waitForLines(page, 'hi in the terminal', /^hi$/);

    await typeLine(page, 'stty size');
    const [before] = await waitForLines(page, 'the first stty size', /^\d+ \d+$/);
    await page.setViewportSize({ width: 900, height: 560 });
    // The shell may see the new size a moment after the page does: ask until the answer changes.
    const after = await waitFor(
      'stty size after the resize',
      async () => {
        await typeLine(page, 'stty size');
        const sizes = (await terminalText(page))
          .split('\n')
          .map((line) => line.trim())
          .filter((line) => /^\d+ \d+$/.test(line));
        const last = sizes[sizes.length - 1];
        return last !== undefined && last !== before.trim() ? last : undefined;
      },
      15_000,
      500,
    );
    const [rows, cols] = after.split(' ').map(Number);
    const [rowsBefore, colsBefore] = before.trim().split(' ').map(Number);
    expect(rows).toBeLessThan(rowsBefore);
    expect(cols).toBeLessThan(colsBefore);

    // A variable set in this shell proves that the shell after the break is the same one; output written while no
    // socket is open arrives after the reconnect, once.
    await typeLine(page, 'MARK=kept-$((6*7)); sleep 1; echo late-$((6*7))');
    const execSockets = () =>
      page.evaluate(
        () =>
          (window as unknown as { groveTestSockets: WebSocket[] }).groveTestSockets.filter((s) =>
            s.url.includes('/exec'),
          ).length,
      );
    const socketsBefore = await execSockets();
    const dropped = await page.evaluate(() => {
      const sockets = (window as unknown as { groveTestSockets: WebSocket[] }).groveTestSockets;
      const open = sockets.filter((s) => s.url.includes('/exec') && s.readyState === WebSocket.OPEN);
      open.forEach((s) => s.close());
      return open.length;
    });
    expect(dropped).toBe(1);
    // The page opens a new socket to the same shell. (Not the "Reconnecting" state line: it may last too short a
    // time to be seen.)
    await waitFor('a new exec socket', async () => (await execSockets()) > socketsBefore, 20_000, 100);
    await page.waitForSelector('.terminal-state-connected');
    await waitForLines(page, 'the output written during the break', /^late-42$/);
    await typeLine(page, 'echo "$MARK"');
    await waitForLines(page, 'the variable of the same shell', /^kept-42$/);
    expect(await waitForLines(page, 'late output', /^late-42$/)).toHaveLength(1);
    // What was on the screen before the break is still there (the command line typed before it; earlier lines may
    // have scrolled out of the small window).
    expect((await terminalText(page)).replace(/\n/g, '')).toContain('MARK=kept-$((6*7)); sleep 1; echo late-$((6*7))');
    await screenshot(page, 'vm-terminal');
  });

  it("copies the terminal's selection with Ctrl+Shift+C and pastes the clipboard with the Paste button", async () => {
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: cluster.url });
    await page.goto(cluster.consoleUrl(`#/vms/${VM}/terminal`));
    await page.waitForSelector('.terminal-state-connected');
    await typeLine(page, 'echo copy-$((3*3))');
    await waitForLines(page, 'the line to copy', /^copy-9$/);
    const row = page.locator('.terminal-host .xterm-rows > div', { hasText: /^\s*copy-9\s*$/ }).first();
    const box = (await row.boundingBox())!;
    await page.mouse.dblclick(box.x + 10, box.y + box.height / 2);
    await page.keyboard.press('Control+Shift+KeyC');
    expect(await waitFor('the copied text', () => page.evaluate(() => navigator.clipboard.readText()))).toBe('copy-9');

    await page.evaluate(() => navigator.clipboard.writeText('echo pasted-$((2+3))'));
    await page.getByRole('button', { name: 'Paste' }).click();
    // The paste reads the clipboard asynchronously: Enter only once the text is on the command line.
    await waitFor(
      'the pasted text',
      // (the prompt is long: the command line may wrap onto the next row)
      async () => (await terminalText(page)).replace(/\n/g, '').includes('echo pasted-$((2+3))'),
      10_000,
      100,
    );
    await page.keyboard.press('Enter');
    await waitForLines(page, 'the pasted command ran', /^pasted-5$/);

    // Tab belongs to the shell; Ctrl+Shift+E moves the focus out of the terminal, to its toolbar.
    await page.keyboard.press('Control+Shift+KeyE');
    expect(await page.evaluate(() => document.activeElement?.closest('.terminal-toolbar') !== null)).toBe(true);
  });

  it("shows the VM's screen from its VNC server", async () => {
    await page.goto(cluster.consoleUrl(`#/vms/${VM}/screen`));
    // On failure the state line says why (e.g. what the tunnel to port 5900 ended with).
    await page.waitForSelector('.screen-state-connected', { timeout: 20_000 }).catch(async (err: unknown) => {
      throw new Error(`the screen did not connect: ${await page.locator('.screen-state').innerText()}`, { cause: err });
    });
    const pixels = await waitFor(
      'pixels from the VNC server',
      async () => {
        const got = await paintedPixels(page);
        return got.painted > 0 ? got : undefined;
      },
      15_000,
      200,
    );
    expect(pixels.width).toBeGreaterThan(0);
    expect(pixels.painted).toBeGreaterThan(pixels.width); // a pattern, not a stray pixel

    // The pointer reaches the VM (the synthetic screen paints where the left button drags), except in view-only mode.
    // The view-only drag is checked after a later drag shows up: the server handles events in order.
    await page.getByLabel('View only').check();
    await dragAcross(page, 460);
    await page.getByLabel('View only').uncheck();
    await dragAcross(page, 540);
    await waitFor('the drag painted', async () => (await whiteDots(page, 520, 560)) > 100, 10_000, 100);
    expect(await whiteDots(page, 440, 480)).toBe(0);

    // Ctrl+Alt+Del reaches the VM as three keys (the synthetic screen's status line counts them, rows 680–720) and
    // clipboard text as the "CLIP:" line (rows 636–680).
    const status = await rowsChecksum(page, 680, 720);
    await page.getByRole('button', { name: 'Ctrl+Alt+Del' }).click();
    await waitFor('the keys counted', async () => (await rowsChecksum(page, 680, 720)) !== status, 10_000, 100);
    const clip = await rowsChecksum(page, 636, 680);
    await page.locator('.screen-clipboard summary').click();
    await page.locator('.screen-clipboard textarea').fill('hello from the console');
    await page.getByRole('button', { name: 'Send to the VM' }).click();
    await waitFor('the clipboard shown', async () => (await rowsChecksum(page, 636, 680)) !== clip, 10_000, 100);
    await screenshot(page, 'vm-screen');
  });

  it('opens a preview of the VM port 80 in a new tab', async () => {
    await page.goto(cluster.consoleUrl(`#/vms/${VM}/ports`));
    await page.fill('input[name=port]', '80');
    await page.click('.ports-form button[type=submit]');
    const row = page.locator('.ports-table tr', { hasText: 'Typed in' });
    const context: BrowserContext = page.context();
    const [preview] = await Promise.all([
      context.waitForEvent('page'),
      row.getByRole('button', { name: 'Preview' }).click(),
    ]);
    await preview.waitForURL(/\/preview\/[^/]+\//).catch(async (err: unknown) => {
      throw new Error(`no preview opened: ${(await row.innerText()).replace(/\s+/g, ' ')}`, { cause: err });
    });
    await preview.waitForLoadState();
    expect(await preview.locator('body').innerText()).toContain(VM);
    await screenshot(page, 'vm-ports');
    await screenshot(preview, 'vm-port-80-preview');
    // The tab the console opened does not carry its signed-in token: the console there asks to sign in.
    await preview.goto(cluster.consoleUrl('#/vms'));
    await preview.locator('#signin-name').waitFor();
    await preview.close();
  });

  it('tells an account without compute:connect that it cannot open the terminal or the screen', async () => {
    const reader = await cluster.createAccount('access-reader', ['compute:read']);
    const readerPage = await browser.newPage();
    await signIn(readerPage, cluster, reader);
    await readerPage.goto(cluster.consoleUrl(`#/vms/${VM}/terminal`));
    await readerPage.getByText('This account cannot open a terminal: it needs the role compute:connect').waitFor();
    expect(await readerPage.locator('.terminal-host').count()).toBe(0);
    await readerPage.goto(cluster.consoleUrl(`#/vms/${VM}/screen`));
    await readerPage.getByText('This account cannot see the screen').waitFor();
    await readerPage.goto(cluster.consoleUrl(`#/vms/${VM}/ports`));
    await readerPage.waitForSelector('.ports-table');
    expect(await readerPage.getByRole('button', { name: 'Preview' }).count()).toBe(0);
  });

  // Last: it kills the VM's worker.
  it("says so when the VM's worker is gone", async () => {
    await page.goto(cluster.consoleUrl(`#/vms/${VM}/terminal`));
    await page.waitForSelector('.terminal-state-connected');
    const { worker } = await cluster.client.vms.get(VM);
    await cluster.workers[cluster.workerNames.indexOf(worker)].stop('SIGKILL');
    // The running shell ends with the controller's message; a new one cannot start, and the page says why.
    await page.waitForSelector('.terminal-state-failed', { timeout: 20_000 });
    await page.getByRole('button', { name: 'Start a new shell' }).click();
    const state = page.locator('.terminal-state');
    await waitFor(
      'the unreachable worker named',
      async () => (await state.innerText()).includes(`The worker ${worker} is unreachable`),
      40_000,
      250,
    );
    await screenshot(page, 'vm-terminal-worker-gone');
  });
});
