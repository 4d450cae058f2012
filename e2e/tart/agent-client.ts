import { type ServiceError, credentials, status } from '@grpc/grpc-js';
import { type TartAgentClient, type TartExecResponse, loadTartAgentProtocol } from '@grove/proto';
import { ForeignError, TartRuntimeError } from './errors';
import type { VMDir } from './storage';

/**
 * A gRPC channel to the VM's agent. Like Tart it chdirs into the VM directory and dials `unix:control.sock`
 * (tart.md §4.1), so the socket path length never matters.
 */
export function agentClient(vm: VMDir): TartAgentClient {
  process.chdir(vm.path);
  const { Agent } = loadTartAgentProtocol();
  return new Agent('unix:control.sock', credentials.createInsecure());
}

/** ResolveIP with Tart's 1 s deadline; any failure means "no address yet". */
export function resolveIpViaAgent(client: TartAgentClient): Promise<string | undefined> {
  return new Promise((resolve) => {
    client.ResolveIP({}, { deadline: Date.now() + 1_000 }, (err, response) =>
      resolve(err || !response?.ip ? undefined : response.ip),
    );
  });
}

function waitForReady(client: TartAgentClient, timeoutMs: number): Promise<Error | undefined> {
  return new Promise((resolve) => client.waitForReady(Date.now() + timeoutMs, (err) => resolve(err ?? undefined)));
}

export interface ExecOptions {
  command: string[];
  interactive: boolean;
  tty: boolean;
  connectTimeoutMs: number;
}

/** Stdin read from a file or pipe goes out in chunks of at most 64 KiB (tart.md §1.2 `exec`). */
const STDIN_CHUNK = 64 * 1024;

/** `tart exec`: streams the command's output to ours and resolves with the exit code to use. */
export async function execViaAgent(client: TartAgentClient, options: ExecOptions): Promise<number> {
  const connectError = await waitForReady(client, options.connectTimeoutMs);
  if (connectError) {
    throw new TartRuntimeError(
      `Failed to connect to the VM using its control socket: GRPCConnectionPoolError(${connectError.message}), is the Tart Guest Agent running?`,
    );
  }
  const call = client.Exec();
  const [name, ...args] = options.command;
  const stdout = process.stdout;
  const size = options.tty && stdout.isTTY ? { rows: stdout.rows, cols: stdout.columns } : undefined;
  call.write({
    command: { name, args, interactive: options.interactive, tty: options.tty, terminal_size: size ?? null },
  });

  const restore: (() => void)[] = [];
  if (options.tty && process.stdin.isTTY && options.interactive) {
    process.stdin.setRawMode(true);
    restore.push(() => process.stdin.setRawMode(false));
  }
  if (options.tty && stdout.isTTY) {
    const onResize = (): void => void call.write({ terminal_resize: { rows: stdout.rows, cols: stdout.columns } });
    process.on('SIGWINCH', onResize);
    restore.push(() => process.off('SIGWINCH', onResize));
  }
  if (options.interactive) {
    process.stdin.on('data', (data: Buffer) => {
      for (let offset = 0; offset < data.length; offset += STDIN_CHUNK) {
        call.write({ standard_input: { data: data.subarray(offset, offset + STDIN_CHUNK) } });
      }
    });
    process.stdin.on('end', () => call.write({ standard_input: { data: Buffer.alloc(0) } }));
  }

  try {
    return await new Promise<number>((resolve, reject) => {
      let exitCode = 0;
      call.on('data', (response: TartExecResponse) => {
        switch (response.type) {
          case 'standard_output':
            stdout.write(response.standard_output.data);
            break;
          case 'standard_error':
            process.stderr.write(response.standard_error.data);
            break;
          case 'exit':
            // A signal-killed command reports -1, which the shell sees as 255.
            exitCode = response.exit.code & 0xff;
            break;
        }
      });
      call.on('error', (err: ServiceError) => {
        reject(new ForeignError(`${status[err.code]} (${err.code}): ${err.details}`));
      });
      call.on('status', (s: { code: status }) => {
        if (s.code === status.OK) {
          resolve(exitCode);
        }
      });
    });
  } finally {
    for (const undo of restore) {
      undo();
    }
    process.stdin.pause();
    client.close();
  }
}
