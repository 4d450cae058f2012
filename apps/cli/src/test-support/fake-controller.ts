import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { HALF_CLOSE_PROTOCOL, RAW_TUNNEL_PROTOCOL, TUNNEL_OPENED } from '@grove/client';
import { WebSocketServer, type WebSocket } from 'ws';
import type { CommandIo } from '../commands/io';
import { runCli } from '../program';

export interface Recorded {
  method: string;
  url: string;
  authorization?: string;
  body: unknown;
  /** An upgrade's protocol (`websocket`, or Grove's raw tunnel protocol `grove-tunnel/1`); absent for other requests. */
  protocol?: string;
}

export type Route = (req: Recorded, res: ServerResponse) => void;

/**
 * Answers an upgrade (the port-forward endpoints): a function accepts a WebSocket and gets the open socket, `raw`
 * accepts Grove's raw tunnel protocol (101) and gets the socket (which then writes the status record itself), an object
 * with a status refuses either with that status and JSON body, as the controller does before a tunnel is ready.
 * A raw upgrade answered with a WebSocket handler is refused with 400, as a controller that only knows WebSockets
 * does, except for {@link echo}, which serves either protocol.
 */
export type UpgradeRoute = (
  req: Recorded,
) =>
  | ((ws: WebSocket) => void)
  | { status: number; body: unknown }
  | { firstMessage: Buffer }
  | { raw: (socket: Socket) => void; greeting?: Buffer };

/** An HTTP stand-in for the controller on 127.0.0.1: records requests, answers with `route` and `upgrade`. */
export interface FakeController {
  url: string;
  requests: Recorded[];
  route: Route;
  /** Default: 404 for every upgrade. */
  upgrade: UpgradeRoute;
  close(): Promise<void>;
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

export async function startFakeController(route: Route): Promise<FakeController> {
  const fake: Partial<FakeController> & { requests: Recorded[]; route: Route; upgrade: UpgradeRoute } = {
    requests: [],
    route,
    upgrade: () => ({ status: 404, body: { message: 'no WebSocket here' } }),
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const recorded: Recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        body: text === '' ? undefined : JSON.parse(text),
      };
      fake.requests.push(recorded);
      fake.route(recorded, res);
    });
  });
  const wss = new WebSocketServer({
    noServer: true,
    // Like the controller: the half-close protocol is accepted when asked for (an empty message ends a direction).
    handleProtocols: (protocols: Set<string>) => (protocols.has(HALF_CLOSE_PROTOCOL) ? HALF_CLOSE_PROTOCOL : false),
  });
  const upgraded = new Set<Socket>();
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    socket.on('error', () => undefined);
    const recorded: Recorded = {
      method: req.method ?? '',
      url: req.url ?? '',
      authorization: req.headers.authorization,
      body: undefined,
      protocol: String(req.headers.upgrade ?? '').toLowerCase(),
    };
    fake.requests.push(recorded);
    let answer = fake.upgrade(recorded);
    if (recorded.protocol === RAW_TUNNEL_PROTOCOL) {
      answer = answer === echo ? { raw: rawEcho } : answer;
      if (typeof answer === 'function' || 'firstMessage' in answer) {
        answer = { status: 400, body: { message: 'this endpoint needs a WebSocket handshake' } };
      }
    } else if ('raw' in answer) {
      answer = { status: 400, body: { message: `this endpoint needs Upgrade: ${RAW_TUNNEL_PROTOCOL}` } };
    }
    if ('raw' in answer) {
      // `greeting`: bytes in the same write as the 101 (the status record and a target that speaks first).
      const switching = `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${RAW_TUNNEL_PROTOCOL}\r\n\r\n`;
      socket.write(Buffer.concat([Buffer.from(switching), answer.greeting ?? Buffer.alloc(0)]));
      if (head.length > 0) {
        socket.unshift(head);
      }
      answer.raw(socket);
      return;
    }
    if (typeof answer === 'function') {
      wss.handleUpgrade(req, socket, head, (ws) => answer(ws));
      return;
    }
    if ('firstMessage' in answer) {
      socket.write(handshakeWithMessage(req, answer.firstMessage));
      return;
    }
    const body = JSON.stringify(answer.body);
    socket.end(
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  fake.url = `http://127.0.0.1:${port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      wss.clients.forEach((ws) => ws.terminate());
      upgraded.forEach((socket) => socket.destroy());
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake as FakeController;
}

/**
 * The 101 answer and a first binary frame in one write, so that the client reads both at once: what a controller
 * does when the far end (an SSH server's banner) speaks first. The socket then stays open and silent.
 */
function handshakeWithMessage(req: IncomingMessage, message: Buffer): Buffer {
  const accept = createHash('sha1')
    .update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
    .digest('base64');
  const asked = String(req.headers['sec-websocket-protocol'] ?? '');
  const protocol = asked.split(',').some((p) => p.trim() === HALF_CLOSE_PROTOCOL)
    ? `Sec-WebSocket-Protocol: ${HALF_CLOSE_PROTOCOL}\r\n`
    : '';
  const response =
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${accept}\r\n${protocol}\r\n`;
  if (message.length > 125) {
    throw new Error('firstMessage: at most 125 bytes (one short frame)');
  }
  return Buffer.concat([Buffer.from(response), Buffer.from([0x82, message.length]), message]);
}

/**
 * Sends every binary message back: the far end of a tunnel to an echo service. Asked for a raw tunnel, the fake
 * controller serves {@link rawEcho} instead.
 */
export function echo(ws: WebSocket): void {
  ws.on('message', (data: Buffer) => ws.send(data, { binary: true }));
}

/** A raw tunnel to an echo service: the status record of an opened session, then every byte back, and its end. */
export function rawEcho(socket: Socket): void {
  socket.write(TUNNEL_OPENED);
  socket.pipe(socket);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A CLI run in progress (see {@link startCli}). */
export interface RunningCli {
  /** Settles when the command returns. */
  result: Promise<CliResult>;
  /** The output so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves with the first match of `pattern` in stdout + stderr, waiting for output up to `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** What Ctrl-C does to the real process. */
  interrupt(): void;
}

/**
 * Starts the CLI in-process with captured output (text and the byte streams `grove ssh` uses), the given environment,
 * `stdin` (default: a stream that stays open without data, like an idle terminal), and a Ctrl-C of its own.
 */
export function startCli(
  env: Record<string, string | undefined>,
  args: string[],
  options: { stdin?: Readable } = {},
): RunningCli {
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const interrupts = new Set<() => void>();
  const append = (stream: 'out' | 'err', text: string) => {
    if (stream === 'out') {
      stdout += text;
    } else {
      stderr += text;
    }
    waiters.forEach((check) => check());
  };
  const sink = (stream: 'out' | 'err') =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        append(stream, chunk.toString('utf8'));
        callback();
      },
    });
  const idleStdin = new PassThrough();
  const io: CommandIo = {
    out: (t) => append('out', t),
    err: (t) => append('err', t),
    env,
    now: () => new Date('2026-01-01T12:00:00Z'),
    streams: { stdin: options.stdin ?? idleStdin, stdout: sink('out'), stderr: sink('err') },
    onInterrupt: (listener) => {
      interrupts.add(listener);
      return () => interrupts.delete(listener);
    },
  };
  const result = runCli(['node', 'grove', ...args], io).then((code) => {
    idleStdin.destroy();
    return { code, stdout, stderr };
  });
  return {
    result,
    output: () => ({ stdout, stderr }),
    waitForOutput: (pattern, timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${pattern} in the output within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
        }, timeoutMs);
        const check = () => {
          const match = (stdout + stderr).match(pattern);
          if (match) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(match);
          }
        };
        waiters.add(check);
        check();
      }),
    interrupt: () => [...interrupts].forEach((listener) => listener()),
  };
}

/** Runs the CLI in-process with captured output and the given environment. */
export function cli(env: Record<string, string | undefined>, ...args: string[]): Promise<CliResult> {
  return startCli(env, args).result;
}

/** A temporary GROVE_HOME, removed by `remove()`. */
export function tempHome(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'grove-cli-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** What {@link useFakeController} gives each test: a fresh fake controller, GROVE_HOME, and CLI env pointing at both. */
export interface FakeControllerContext {
  fake: FakeController;
  home: ReturnType<typeof tempHome>;
  env: Record<string, string>;
}

/**
 * Registers `beforeEach`/`afterEach` hooks that start a fake controller answering `{}` and a temporary GROVE_HOME for
 * every test, with the CLI's environment set to talk to it as service account `admin`. Read the fields inside tests.
 */
export function useFakeController(): FakeControllerContext {
  const context = {} as FakeControllerContext;
  beforeEach(async () => {
    context.fake = await startFakeController((_req, res) => json(res, 200, {}));
    context.home = tempHome();
    context.env = {
      GROVE_HOME: context.home.dir,
      GROVE_URL: context.fake.url,
      GROVE_SERVICE_ACCOUNT_NAME: 'admin',
      GROVE_SERVICE_ACCOUNT_TOKEN: 'secret',
    };
  });
  afterEach(async () => {
    await context.fake.close();
    context.home.remove();
  });
  return context;
}
