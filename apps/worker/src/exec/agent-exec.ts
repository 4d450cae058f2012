import {
  connectivityState as ConnectivityState,
  credentials as grpcCredentials,
  status as GrpcStatus,
  type ClientDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import {
  loadTartAgentProtocol,
  type TartAgentClient,
  type TartAgentProtocol,
  type TartExecRequestInput,
  type TartExecResponse,
} from '@grove/proto';
import { agentCommand } from './exec-command';
import {
  AgentUnavailableError,
  ExecStartError,
  terminalSize,
  type ExecHandle,
  type ExecRequest,
  type ExecSink,
} from './exec-process';

export interface AgentExecutorOptions {
  /**
   * How long the agent may take to accept a connection. A VM without an agent usually refuses at once (tart run closes
   * the control socket's connection), but a dead agent can leave it hanging for about 10 s (tart.md §1.2 `tart exec`).
   */
  readyTimeoutMs: number;
  /**
   * Agents up to v0.9 never say that a command started: it has, unless the call fails within this long (a start
   * failure comes back at once) — or sooner, with the first response or response headers.
   */
  startSettleMs: number;
  /** An agent channel unused for this long is closed; default 60 s. */
  idleCloseMs?: number;
}

interface CachedClient {
  client: TartAgentClient;
  users: number;
  idle?: NodeJS.Timeout;
}

type AgentCall = ClientDuplexStream<TartExecRequestInput, TartExecResponse>;

/**
 * Runs commands through a VM's Tart Guest Agent (`/Agent/Exec`, tart.md §4.3) on its control socket. One gRPC channel
 * per agent target is kept while it is in use and for a minute after, so warm execs skip the connection setup.
 */
export class AgentExecutor {
  private readonly protocol: TartAgentProtocol = loadTartAgentProtocol();
  private readonly clients = new Map<string, CachedClient>();

  constructor(private readonly options: AgentExecutorOptions) {}

  /**
   * Starts `request` through the agent at `target`. Resolves once the command runs (the sink has heard `started`).
   * Rejects with an {@link AgentUnavailableError} when the agent does not answer (then nothing ran: fall back to SSH),
   * or an {@link ExecStartError} with the agent's message when it could not start the command.
   */
  async start(target: string, request: ExecRequest, sink: ExecSink, signal: AbortSignal): Promise<ExecHandle> {
    const cached = this.acquire(target);
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        this.release(target, cached);
      }
    };
    try {
      await this.waitReady(cached.client, signal);
    } catch (err) {
      release();
      if (err instanceof AgentUnavailableError) {
        this.evict(target, cached);
      }
      throw err;
    }
    const call = cached.client.Exec();
    try {
      return await this.run(call, request, sink, signal, release);
    } catch (err) {
      release();
      if (err instanceof AgentUnavailableError) {
        this.evict(target, cached);
      }
      throw err;
    }
  }

  /** Closes every agent channel (the worker is stopping). */
  close(): void {
    for (const [target, cached] of [...this.clients]) {
      this.evict(target, cached);
    }
  }

  private run(
    call: AgentCall,
    request: ExecRequest,
    sink: ExecSink,
    signal: AbortSignal,
    release: () => void,
  ): Promise<ExecHandle> {
    return new Promise<ExecHandle>((resolve, reject) => {
      const interactive = request.interactive || request.tty;
      let state: 'starting' | 'running' | 'ended' = 'starting';
      let exitCode: number | undefined;
      let killed = false;
      const settle = setTimeout(() => start(), this.options.startSettleMs);

      const handle: ExecHandle = {
        input: (data) => (interactive && state === 'running' ? call.write({ standard_input: { data } }) : true),
        onInputDrain: (resume) => call.once('drain', resume),
        endInput: () => {
          if (interactive && state === 'running') {
            call.write({ standard_input: { data: Buffer.alloc(0) } });
          }
        },
        resize: (rows, cols) => {
          if (request.tty && state === 'running') {
            call.write({ terminal_resize: { rows, cols } });
          }
        },
        kill: () => {
          killed = true;
          call.cancel();
        },
      };

      const start = () => {
        if (state !== 'starting') {
          return;
        }
        state = 'running';
        clearTimeout(settle);
        signal.removeEventListener('abort', onAbort);
        sink.started('agent');
        resolve(handle);
      };
      const end = (outcome: { code: number } | { error: string }) => {
        if (state === 'ended') {
          return;
        }
        const wasRunning = state === 'running';
        state = 'ended';
        clearTimeout(settle);
        signal.removeEventListener('abort', onAbort);
        release();
        if (wasRunning) {
          sink.end(outcome);
        }
      };
      const onAbort = () => {
        call.cancel();
        end({ error: 'cancelled' });
        reject(new ExecStartError('the exec session was cancelled'));
      };

      call.on('metadata', start);
      call.on('data', (message: TartExecResponse) => {
        start();
        switch (message.type) {
          case 'standard_output':
            this.forward(call, sink, 'stdout', message.standard_output.data);
            return;
          case 'standard_error':
            this.forward(call, sink, 'stderr', message.standard_error.data);
            return;
          case 'exit':
            // Agent v0.9 reports a command killed by a signal as −1, which `tart exec` turns into 255.
            exitCode = message.exit.code < 0 ? 255 : message.exit.code;
            return;
        }
      });
      // The stream ends after the exit message; without one, `tart exec` exits 0, and so does this.
      call.on('end', () => {
        start();
        end({ code: exitCode ?? 0 });
      });
      call.on('error', (err: ServiceError) => {
        if (state === 'starting') {
          state = 'ended';
          clearTimeout(settle);
          signal.removeEventListener('abort', onAbort);
          // UNAVAILABLE before anything ran: the connection to the agent broke, so SSH may still work.
          reject(
            err.code === GrpcStatus.UNAVAILABLE
              ? new AgentUnavailableError(`the guest agent does not answer: ${err.details || err.message}`)
              : new ExecStartError(err.details || err.message),
          );
          return;
        }
        end({ error: killed ? 'cancelled' : `the guest agent failed: ${err.details || err.message}` });
      });

      signal.addEventListener('abort', onAbort, { once: true });
      const size = terminalSize(request);
      call.write({
        command: {
          ...agentCommand(request.argv, request),
          interactive,
          tty: request.tty,
          ...(request.tty ? { terminal_size: size } : {}),
        },
      });
      if (signal.aborted) {
        onAbort();
      }
    });
  }

  /** Passes output on; while the tunnel is full the call is not read, so HTTP/2 flow control holds the agent back. */
  private forward(call: AgentCall, sink: ExecSink, stream: 'stdout' | 'stderr', data: Buffer): void {
    if (!sink.output(stream, data)) {
      call.pause();
      sink.onDrain(() => call.resume());
    }
  }

  /** Resolves when the channel is connected; rejects at once when the agent refuses, or after the ready timeout. */
  private waitReady(client: TartAgentClient, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + this.options.readyTimeoutMs;
    const channel = client.getChannel();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let refused = false;
      const finish = (err?: Error) => {
        if (!settled) {
          settled = true;
          signal.removeEventListener('abort', onAbort);
          if (err) {
            reject(err);
          } else {
            resolve();
          }
        }
      };
      const onAbort = () => finish(new ExecStartError('the exec session was cancelled'));
      const check = () => {
        if (settled) {
          return;
        }
        const state = channel.getConnectivityState(true);
        switch (state) {
          case ConnectivityState.READY:
            finish();
            return;
          case ConnectivityState.SHUTDOWN:
            finish(new AgentUnavailableError('the guest agent does not answer (its channel was shut down)'));
            return;
          case ConnectivityState.TRANSIENT_FAILURE:
            // A VM that is still booting refuses (or its control socket does not exist yet) until its agent runs:
            // grpc-js retries after its back-off (100 ms to 1 s here) until the deadline.
            refused = true;
            break;
          case ConnectivityState.IDLE:
          case ConnectivityState.CONNECTING:
            break;
        }
        if (Date.now() >= deadline) {
          const how = refused ? ' (its control socket refused or closed every connection)' : '';
          finish(
            new AgentUnavailableError(
              `the guest agent did not answer within ${this.options.readyTimeoutMs / 1000} s${how}`,
            ),
          );
          return;
        }
        channel.watchConnectivityState(state, deadline, check);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }

  private acquire(target: string): CachedClient {
    let cached = this.clients.get(target);
    if (!cached) {
      const client = new this.protocol.Agent(target, grpcCredentials.createInsecure(), {
        // A channel that failed once must try again at once for the next exec, not after grpc-js's back-off.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
      });
      cached = { client, users: 0 };
      this.clients.set(target, cached);
    }
    clearTimeout(cached.idle);
    cached.idle = undefined;
    cached.users++;
    return cached;
  }

  private release(target: string, cached: CachedClient): void {
    cached.users--;
    if (cached.users > 0 || this.clients.get(target) !== cached) {
      return;
    }
    cached.idle = setTimeout(() => this.evict(target, cached), this.options.idleCloseMs ?? 60_000);
    cached.idle.unref();
  }

  /** Forgets a channel (closed once its last call is done: grpc-js lets running calls finish). */
  private evict(target: string, cached: CachedClient): void {
    clearTimeout(cached.idle);
    if (this.clients.get(target) === cached) {
      this.clients.delete(target);
    }
    cached.client.close();
  }
}
