import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandIo } from '../commands/io';
import { runCli } from '../program';

export interface Recorded {
  method: string;
  url: string;
  authorization?: string;
  body: unknown;
}

export type Route = (req: Recorded, res: ServerResponse) => void;

/** An HTTP stand-in for the controller on 127.0.0.1: records requests, answers with `route`. */
export interface FakeController {
  url: string;
  requests: Recorded[];
  route: Route;
  close(): Promise<void>;
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

export async function startFakeController(route: Route): Promise<FakeController> {
  const fake: Partial<FakeController> & { requests: Recorded[]; route: Route } = { requests: [], route };
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
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  fake.url = `http://127.0.0.1:${port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake as FakeController;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with captured output and the given environment. */
export async function cli(env: Record<string, string | undefined>, ...args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CommandIo = {
    out: (t) => {
      stdout += t;
    },
    err: (t) => {
      stderr += t;
    },
    env,
    now: () => new Date('2026-01-01T12:00:00Z'),
  };
  const code = await runCli(['node', 'grove', ...args], io);
  return { code, stdout, stderr };
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
