import type { ExecFrame } from '@grove/resources';
import type { RawData, WebSocket } from 'ws';
import { textOf } from '../exec/exec-runner';
import type { Recorded, UpgradeRoute } from './fake-controller';

/**
 * One exec WebSocket as a fake controller sees it: the query, every frame the CLI sent, and helpers to answer with
 * frames of Orchard's exec protocol (orchard.md §1.5).
 */
export class ExecCall {
  readonly received: ExecFrame[] = [];
  private readonly waiters = new Set<() => void>();
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(
    readonly query: URLSearchParams,
    readonly ws: WebSocket,
  ) {
    ws.on('message', (data: RawData) => {
      this.received.push(JSON.parse(textOf(data)) as ExecFrame);
      this.waiters.forEach((check) => check());
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString('utf8') })),
    );
  }

  /** The `env[NAME]` query parameters as a map. */
  env(): Record<string, string> {
    const env: Record<string, string> = {};
    this.query.forEach((value, key) => {
      const name = /^env\[(.+)\]$/.exec(key)?.[1];
      if (name !== undefined) {
        env[name] = value;
      }
    });
    return env;
  }

  /** Resolves with the first received frame that satisfies `match`, waiting up to 5 s. */
  frame(match: (frame: ExecFrame) => boolean): Promise<ExecFrame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no such frame within 5 s; received: ${JSON.stringify(this.received)}`));
      }, 5000);
      const check = () => {
        const found = this.received.find(match);
        if (found) {
          clearTimeout(timer);
          this.waiters.delete(check);
          resolve(found);
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The bytes of the stdin frames up to (not including) the empty one that ends stdin. */
  stdinText(): string {
    return this.received
      .filter((f) => f.type === 'stdin' && f.data)
      .map((f) => Buffer.from(f.data ?? '', 'base64').toString('utf8'))
      .join('');
  }

  send(frame: ExecFrame): void {
    this.ws.send(JSON.stringify(frame));
  }

  stdout(text: string, watermark?: number): void {
    this.send({ type: 'stdout', data: Buffer.from(text).toString('base64'), watermark });
  }

  stderr(text: string, watermark?: number): void {
    this.send({ type: 'stderr', data: Buffer.from(text).toString('base64'), watermark });
  }

  /** The command's end, then the close with 1000 "Command finished" the controller sends without a session. */
  exit(code: number): void {
    this.send({ type: 'exit', exit: { code } });
    this.ws.close(1000, 'Command finished');
  }
}

/**
 * A fake exec endpoint for legacy (session-less) commands: each accepted WebSocket goes to `program`, which plays
 * the command. Like the controller, the socket is closed with 1000 "Command finished" after an `exit` frame.
 */
export function legacyExec(program: (call: ExecCall) => void | Promise<void>, calls: ExecCall[] = []): UpgradeRoute {
  return (req: Recorded) => (ws: WebSocket) => {
    const call = new ExecCall(queryOf(req), ws);
    calls.push(call);
    void Promise.resolve(program(call)).catch((err: unknown) => ws.close(1011, String(err)));
  };
}

/** The reconnectable side of the fake: a session's replay buffer, subscribers, history, ack, detach and close. */
export class FakeExecSession {
  readonly buffer: ExecFrame[] = [];
  readonly subscribers = new Set<ExecCall>();
  readonly calls: ExecCall[] = [];
  private lastWatermark = 0;
  private readonly liveSent = new Map<ExecCall, Set<number>>();
  acked = 0;
  closedByClient = false;
  detaches = 0;

  constructor(
    readonly id: string,
    readonly command: string,
    /**
     * History replays everything from watermark 1 whatever the client asks or acknowledged: tests that the client
     * drops the frames it has written already.
     */
    private readonly sloppyHistory: boolean,
  ) {}

  stdout(text: string): void {
    this.emit({ type: 'stdout', data: Buffer.from(text).toString('base64') });
  }

  stderr(text: string): void {
    this.emit({ type: 'stderr', data: Buffer.from(text).toString('base64') });
  }

  exit(code: number): void {
    this.emit({ type: 'exit', exit: { code } });
  }

  /** Cuts every attached WebSocket without a close frame, as a dropped connection does. */
  drop(): void {
    this.subscribers.forEach((call) => call.ws.terminate());
  }

  attach(call: ExecCall): void {
    this.calls.push(call);
    this.subscribers.add(call);
    this.liveSent.set(call, new Set());
    call.ws.on('message', (data: RawData) => this.onFrame(call, JSON.parse(textOf(data)) as ExecFrame));
    call.ws.once('close', () => this.subscribers.delete(call));
  }

  private emit(frame: ExecFrame): void {
    const numbered = { ...frame, watermark: ++this.lastWatermark };
    this.buffer.push(numbered);
    for (const call of this.subscribers) {
      call.send(numbered);
      this.liveSent.get(call)?.add(numbered.watermark);
    }
  }

  private onFrame(call: ExecCall, frame: ExecFrame): void {
    switch (frame.type) {
      case 'history': {
        const from = this.sloppyHistory ? 0 : (frame.watermark ?? 0);
        const live = this.liveSent.get(call) ?? new Set<number>();
        this.buffer
          .filter((f) => (f.watermark ?? 0) > from && (this.sloppyHistory || !live.has(f.watermark ?? 0)))
          .forEach((f) => call.send(f));
        call.send({ type: 'no_more_history', watermark: this.lastWatermark });
        break;
      }
      case 'ack':
        this.acked = Math.max(this.acked, frame.watermark ?? 0);
        if (!this.sloppyHistory) {
          this.buffer.splice(0, this.buffer.length, ...this.buffer.filter((f) => (f.watermark ?? 0) > this.acked));
        }
        break;
      case 'detach':
        this.detaches++;
        call.ws.close(1000, 'detached');
        break;
      case 'close':
        this.closedByClient = true;
        call.ws.close(1000, 'Command finished');
        break;
      case 'stdin':
      case 'resize':
      case 'stdout':
      case 'stderr':
      case 'exit':
      case 'error':
      case 'no_more_history':
        break;
    }
  }
}

/**
 * A fake exec endpoint with reconnectable sessions: `start` plays the command of each new session (it outputs with
 * `session.stdout` etc.). Requests without `session` are refused; a missing session without a command is a 404.
 */
export class FakeExecSessions {
  readonly sessions = new Map<string, FakeExecSession>();
  sloppyHistory = false;

  constructor(private readonly start: (session: FakeExecSession, call: ExecCall) => void | Promise<void>) {}

  readonly route: UpgradeRoute = (req: Recorded) => {
    const query = queryOf(req);
    const id = query.get('session');
    const command = query.get('command');
    if (id === null) {
      return { status: 400, body: { message: 'this fake only has reconnectable sessions' } };
    }
    const known = this.sessions.get(id);
    const existing = known?.closedByClient ? undefined : known;
    if (existing === undefined && command === null) {
      return { status: 404, body: { message: `exec session "${id}" does not exist` } };
    }
    return (ws: WebSocket) => {
      const call = new ExecCall(query, ws);
      const session = existing ?? new FakeExecSession(id, command ?? '', this.sloppyHistory);
      session.attach(call);
      if (existing === undefined) {
        this.sessions.set(id, session);
        void Promise.resolve(this.start(session, call)).catch((err: unknown) => ws.close(1011, String(err)));
      }
    };
  };
}

function queryOf(req: Recorded): URLSearchParams {
  return new URL(req.url, 'http://fake').searchParams;
}
