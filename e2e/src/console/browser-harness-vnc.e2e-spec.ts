import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { webSocketStream } from '@grove/client';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { WebSocketServer } from 'ws';
import { launchBrowser, screenshot, type TestBrowser } from '../test-support/browser';
import { startConsoleCluster, type ConsoleCluster } from '../test-support/console-cluster';
import { REPO_ROOT } from '../test-support/paths';

/** What the page's script exposes: noVNC's RFB class, and what happened to the connection it opened. */
const PAGE_SCRIPT = `
import RFB from '@novnc/novnc';
window.vnc = { events: [] };
window.openVnc = (url) => {
  const rfb = new RFB(document.getElementById('screen'), url);
  rfb.addEventListener('connect', () => window.vnc.events.push('connect'));
  rfb.addEventListener('disconnect', (e) => window.vnc.events.push('disconnect clean=' + e.detail.clean));
  rfb.addEventListener('desktopname', (e) => window.vnc.events.push('name ' + e.detail.name));
};
`;

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>noVNC check</title></head>
<body style="margin:0"><div id="screen" style="width:1024px;height:768px"></div>
<script type="module" src="/novnc.js"></script></body></html>`;

/**
 * A page expression: the RGBA of pixel (`x`, `y`) of noVNC's canvas, or [] before it exists. (Page code is given as
 * text: the e2e project is type-checked without the DOM library.)
 */
const pixelExpression = (x: number, y: number) =>
  `Array.from(document.querySelector('#screen canvas')?.getContext('2d')?.getImageData(${x}, ${y}, 1, 1).data ?? [])`;

function canvasPixel(page: Page, x: number, y: number): Promise<number[]> {
  return page.evaluate<number[]>(pixelExpression(x, y));
}

// noVNC (the console's VNC client) against a synthetic VM's VNC server (issue 16), without the console: a page of the
// test's own loads noVNC, whose WebSocket a bridge of the test carries into the controller's port-forward to VM port
// 5900 — so that the RFB server is proven with the real client before the console's own screen test.
describe('noVNC in Chromium shows a synthetic VM screen through the port-forward', () => {
  let cluster: ConsoleCluster;
  let browser: TestBrowser;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    cluster = await startConsoleCluster('novnc');
    browser = await launchBrowser();
    await cluster.runVm('vnc', { os: 'linux' });
    const bundle = await build({
      stdin: { contents: PAGE_SCRIPT, resolveDir: REPO_ROOT, loader: 'js' },
      bundle: true,
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    const script = bundle.outputFiles[0].contents;
    server = createServer((req, res) => {
      const js = req.url === '/novnc.js';
      res.writeHead(200, { 'content-type': js ? 'text/javascript' : 'text/html; charset=utf-8' });
      res.end(js ? script : PAGE);
    });
    // Each browser WebSocket becomes a port-forward of the admin to VM port 5900 (the browser sends no credentials).
    new WebSocketServer({ server }).on('connection', (browserSocket) => {
      cluster.client.vms.portForward('vnc', { port: 5900 }).then(
        (forward) => {
          const vm = webSocketStream(forward);
          vm.on('data', (chunk: Buffer) => browserSocket.send(chunk));
          vm.on('error', () => browserSocket.close());
          vm.on('close', () => browserSocket.close());
          browserSocket.on('message', (data: Buffer) => vm.write(data));
          browserSocket.on('close', () => vm.destroy());
        },
        // A refused port-forward closes the page's socket (the test then fails on noVNC's events, not on an unhandled
        // rejection).
        () => browserSocket.close(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (server) {
      // (without a server, a promise waiting for its close would never settle and the cluster would stay up)
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await cluster?.stop();
  });

  it('connects, names the desktop after the VM, draws the colour bars and the pointer and keys reach the VM', async () => {
    const page = await browser.newPage({ width: 1100, height: 820 });
    await page.goto(url);
    await page.waitForFunction("typeof window.openVnc === 'function'");
    await page.evaluate(`window.openVnc(${JSON.stringify(url.replace('http', 'ws'))})`);
    const events = () => page.evaluate<string[]>('window.vnc.events');
    await page.waitForFunction("window.vnc.events.includes('connect')");
    expect(await events()).toContain('name vnc');

    // The second colour bar (x 128–255, from y 48) is yellow once the first update is drawn.
    await page.waitForFunction(`${pixelExpression(192, 148)}.join() === '255,255,0,255'`);

    const box = await page.locator('#screen canvas').boundingBox();
    expect(box).not.toBeNull();
    await page.mouse.click(box!.x + 300, box!.y + 500);
    await page.keyboard.type('hi');
    await page.waitForFunction(`${pixelExpression(300, 500)}.join() === '255,255,255,255'`);
    expect(await canvasPixel(page, 300, 500)).toEqual([255, 255, 255, 255]);
    // The typed line reads "KEYS: HI_": the H's left stroke starts 6 characters of 16 pixels in, from y 612.
    await page.waitForFunction(`${pixelExpression(113, 613)}.join() === '240,240,240,255'`);
    await screenshot(page, 'synthetic-vnc');
    expect(await events()).not.toContainEqual(expect.stringMatching(/^disconnect/));
  });
});
