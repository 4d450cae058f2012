import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The web server of a synthetic VM (VM port 80, issue 16): a page naming the VM, a second page and a JSON document,
 * linked relatively to each other so that they also work under a path prefix (the console's preview links,
 * `/preview/<token>/…`). It serves connections handed to it; it never listens itself.
 */
export class VmWebServer {
  private readonly server: Server;
  private readonly started = Date.now();

  constructor(private readonly vmName: string) {
    this.server = createServer((req, res) => this.answer(req, res));
  }

  /** Serves HTTP/1.1 on a connection to the VM's port 80. */
  handle(socket: Socket): void {
    this.server.emit('connection', socket);
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    // A request target that is no URL (`GET http://[ HTTP/1.1` passes the HTTP parser) would throw out of the
    // server's 'request' event and end the worker process.
    const url = URL.parse(req.url ?? '/', 'http://vm');
    if (!url) {
      this.send(res, 400, 'text/plain; charset=utf-8', `${JSON.stringify(req.url)} is not a valid request target\n`);
      return;
    }
    const path = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.send(res, 405, 'text/plain; charset=utf-8', `${req.method ?? ''} is not allowed: this page is read-only\n`, {
        allow: 'GET, HEAD',
      });
      return;
    }
    switch (path) {
      case '/':
      case '/index.html':
        this.send(res, 200, 'text/html; charset=utf-8', this.page('', this.indexBody()));
        return;
      case '/about.html':
        this.send(res, 200, 'text/html; charset=utf-8', this.page('about ', this.aboutBody()));
        return;
      case '/status.json':
        this.send(
          res,
          200,
          'application/json',
          `${JSON.stringify({
            vm: this.vmName,
            runtime: 'synthetic',
            uptimeSeconds: Math.floor((Date.now() - this.started) / 1000),
          })}\n`,
        );
        return;
      default:
        this.send(res, 404, 'text/plain; charset=utf-8', `${path} is not a page of synthetic VM ${this.vmName}\n`);
    }
  }

  private indexBody(): string {
    return [
      `<h1>synthetic VM ${escapeHtml(this.vmName)}</h1>`,
      '<p>This page is served by the VM on port 80.</p>',
      '<ul>',
      '<li><a href="about.html">About this VM</a></li>',
      '<li><a href="status.json">Status (JSON)</a></li>',
      '</ul>',
    ].join('\n');
  }

  private aboutBody(): string {
    return [
      `<h1>About synthetic VM ${escapeHtml(this.vmName)}</h1>`,
      '<p>A synthetic VM lives inside its Grove worker: SSH on port 22, echo on port 7, VNC on port 5900 and this',
      'web server on port 80.</p>',
      '<p><a href="./">Back to the start page</a></p>',
    ].join('\n');
  }

  private page(titlePrefix: string, body: string): string {
    return [
      '<!doctype html>',
      '<html lang="en">',
      '<head><meta charset="utf-8">',
      `<title>${titlePrefix}synthetic VM ${escapeHtml(this.vmName)}</title></head>`,
      `<body>\n${body}\n</body>`,
      '</html>',
      '',
    ].join('\n');
  }

  private send(
    res: ServerResponse,
    status: number,
    contentType: string,
    body: string,
    headers: Record<string, string> = {},
  ): void {
    const bytes = Buffer.from(body, 'utf8');
    res.writeHead(status, { 'content-type': contentType, 'content-length': bytes.length, ...headers });
    res.end(res.req.method === 'HEAD' ? undefined : bytes);
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
