import { setTimeout as delay } from 'node:timers/promises';
import { Client, type ClientChannel } from 'ssh2';
import type { Vm, VmEvent } from '@grove/resources';
import type { VmRuntime } from '../runtime/vm-runtime';
import { vmCredentials, type ManagedVm, type StartupScriptRunner, type VmStep } from './managed-vm';

/** How long failed SSH attempts right after `run` began go unreported. */
const QUIET_BOOT_MS = 2_000;

/** Where a VM's log lines go (`POST /v1/vms/{name}/events`). */
export type EventSink = (vmName: string, events: VmEvent[]) => Promise<void>;

export interface StartupScriptOptions {
  runtime: VmRuntime;
  events: EventSink;
  log: (line: string) => void;
  /** How long to keep trying to reach the VM's SSH server after `run` began; a macOS guest boots in ~30 s. */
  connectDeadlineMs?: number;
  /** Pause between connection attempts. */
  retryDelayMs?: number;
  /**
   * Told how long the VM took from `run` to the script's SSH login (`boot`) and the script to succeed
   * (`startup-script`): the worker's metrics.
   */
  onStep?: (step: Extract<VmStep, 'boot' | 'startup-script'>, seconds: number, vm: Vm) => void;
}

/**
 * Sends a VM's output lines to the controller in batches: whatever queued while the previous batch was in flight goes
 * in the next one, so a chatty script costs few requests and lines keep their order. Failed uploads are logged and
 * dropped (the script goes on; Orchard does the same).
 */
export class EventStreamer {
  private queue: VmEvent[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly vmName: string,
    private readonly sink: EventSink,
    private readonly log: (line: string) => void,
  ) {}

  line(payload: string): void {
    this.queue.push({ kind: 'log_line', timestamp: Math.floor(Date.now() / 1000), payload });
    this.flushing ??= this.drain();
  }

  /** Resolves once every queued line was sent (or dropped). */
  async flush(): Promise<void> {
    while (this.flushing) {
      await this.flushing;
    }
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        await this.sink(this.vmName, batch);
      } catch (err) {
        this.log(`could not upload ${batch.length} log line(s) of VM ${this.vmName}: ${(err as Error).message}`);
      }
    }
    this.flushing = undefined;
  }
}

/** Splits a byte stream into lines, holding a partial last line until more arrives or the stream ends. */
export class LineSplitter {
  private rest = '';

  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: Buffer | string): void {
    const lines = (this.rest + chunk.toString()).split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) {
      this.onLine(line.replace(/\r$/, ''));
    }
  }

  end(): void {
    if (this.rest !== '') {
      this.onLine(this.rest);
      this.rest = '';
    }
  }
}

/**
 * What is written to the login shell (orchard.md §5.3): stop at the first failing command, export the script's
 * environment, run the script, leave. Values are double-quoted as Orchard does, so `$HOME` in a value expands.
 */
export function startupShellInput(script: string, env: Record<string, string> = {}): string {
  const exports = Object.entries(env)
    .map(([key, value]) => `export ${key}="${value}"\n`)
    .join('');
  return `set -e\n${exports}${script}\nexit\n`;
}

/**
 * Makes the runner `ManagedVm` calls once `run` began: connect to the VM's port 22 through the runtime (retrying while
 * the guest boots, each failed attempt reported as a log line as Orchard does), log in with the VM's credentials, feed
 * the script to a login shell, stream every output line as a `log_line` event, and fail on a non-zero exit.
 */
export function startupScriptRunner(options: StartupScriptOptions): StartupScriptRunner {
  return async (vm: ManagedVm, signal: AbortSignal) => {
    const script = vm.vm.startup_script;
    if (!script?.script_content) {
      return;
    }
    const events = new EventStreamer(vm.name, options.events, options.log);
    // The runner is called as `run` begins, so this is when the boot began.
    const began = performance.now();
    const seconds = (since: number) => (performance.now() - since) / 1000;
    try {
      const client = await connectWithRetry(vm, options, events, signal);
      const loggedIn = performance.now();
      options.onStep?.('boot', seconds(began), vm.vm);
      try {
        const code = await runInShell(client, startupShellInput(script.script_content, script.env), events, signal);
        if (code !== 0) {
          throw new Error(`Process exited with status ${code}`);
        }
        options.onStep?.('startup-script', seconds(loggedIn), vm.vm);
      } finally {
        client.end();
      }
    } finally {
      await events.flush();
    }
  };
}

async function connectWithRetry(
  vm: ManagedVm,
  options: StartupScriptOptions,
  events: EventStreamer,
  signal: AbortSignal,
): Promise<Client> {
  const started = Date.now();
  const deadline = started + (options.connectDeadlineMs ?? 120_000);
  for (let attempt = 1; ; attempt++) {
    try {
      return await sshConnect(vm, options.runtime, signal);
    } catch (err) {
      if (signal.aborted) {
        throw err;
      }
      // The script starts together with `run`, so the first tries usually meet a VM that is still booting: retry
      // those quickly and quietly, and report attempts (as Orchard does) only once the boot takes a while.
      const booting = Date.now() - started < QUIET_BOOT_MS;
      if (!booting) {
        events.line(`attempt ${attempt} to establish SSH connection failed: ${(err as Error).message}`);
      }
      if (Date.now() >= deadline) {
        throw new Error(`failed to establish SSH connection: ${(err as Error).message}`, { cause: err });
      }
      await delay(booting ? 100 : (options.retryDelayMs ?? 1000), undefined, { signal });
    }
  }
}

async function sshConnect(vm: ManagedVm, runtime: VmRuntime, signal: AbortSignal): Promise<Client> {
  const socket = await runtime.connect(vm.onDiskName, 22, signal);
  const { username, password } = vmCredentials(vm.vm);
  const client = new Client();
  return new Promise<Client>((resolve, reject) => {
    const onAbort = () => {
      client.end();
      reject(new Error('cancelled'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    client.once('ready', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(client);
    });
    client.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    });
    // The host key of a fresh clone is unknown by design; Orchard does not check it either.
    client.connect({ sock: socket, username, password, readyTimeout: 10_000, hostVerifier: () => true });
  });
}

function runInShell(client: Client, input: string, events: EventStreamer, signal: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    client.shell(false, (err, channel: ClientChannel) => {
      if (err) {
        reject(err);
        return;
      }
      // One splitter per stream, so that a partial stdout line is never glued to a stderr line.
      const stdout = new LineSplitter((line) => events.line(line));
      const stderr = new LineSplitter((line) => events.line(line));
      let code: number | undefined;
      const onAbort = () => channel.close();
      signal.addEventListener('abort', onAbort, { once: true });
      channel.on('data', (chunk: Buffer) => stdout.push(chunk));
      channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      channel.on('exit', (exitCode: number | null, signalName?: string) => {
        code = exitCode ?? (signalName ? 128 : 1);
      });
      channel.on('close', () => {
        signal.removeEventListener('abort', onAbort);
        stdout.end();
        stderr.end();
        if (signal.aborted) {
          reject(new Error('cancelled'));
        } else if (code === undefined) {
          reject(new Error('the SSH session ended without an exit status'));
        } else {
          resolve(code);
        }
      });
      channel.end(input);
    });
  });
}
