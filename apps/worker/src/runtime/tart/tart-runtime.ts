import { rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { type Socket, connect as netConnect } from 'node:net';
import { join } from 'node:path';
import {
  type GuestAgentAddress,
  type UdpTarget,
  type OnDiskVm,
  RuntimeError,
  type VmHardware,
  type VmRunExit,
  type VmRunOptions,
  type VmRuntime,
} from '../vm-runtime';
import { ensureSymlink, socketLinkPath } from './agent-socket';
import { READ_BOOTPD_ARGS, dhcpLeaseTimeWarning } from './dhcp-lease-time';
import { parseTartGetState, parseTartList } from './tart-json';
import { type TartIpResolver, tartIpArgs, tartRunArgs, tartSetArgs, tartStopArgs } from './tart-args';
import { tartDownload } from './tart-pull-output';
import {
  type ProcessResult,
  TART_NOT_FOUND,
  type TartCallOptions,
  firstNonEmptyLine,
  runProcess,
  runTart,
  spawnFailure,
  tartFailureMessage,
} from './tart-process';

/** What the runtime tells the worker's metrics (issue 14). */
export interface TartObserver {
  /** A tart command failed: its subcommand (`clone`, `run`, `version` for `--version`). Cancellations do not count. */
  commandFailed(command: string): void;
  /** `tart pull`, or `tart clone` pulling implicitly, downloaded an image: how big (when Tart said) and how long. */
  imageDownloaded(download: { command: 'pull' | 'clone'; bytes?: number; seconds: number }): void;
}

export interface TartRuntimeOptions {
  /** The `tart` executable: a path, or a name looked up on the PATH of `env` (default `tart`). */
  tartBinary?: string;
  /** The environment of every `tart` command (default `process.env`, so `TART_HOME` is inherited). */
  env?: NodeJS.ProcessEnv;
  /** Where the runtime's diagnostics go: the version at start, failed commands, warnings. */
  log?: (line: string) => void;
  /**
   * The longest a short-lived `tart` command may take before it is SIGKILLed and fails (default 2 minutes), so that a
   * wedged `tart` cannot hang the worker. `stop` and `ip` get it on top of their own `--timeout`/`--wait`, `list` at most
   * 30 s; `pull`, `clone` (tens of minutes for real images) and `run` are bounded only by their AbortSignal.
   */
  commandTimeoutMs?: number;
  /** Told about failed commands and image downloads (the worker's metrics). */
  observer?: TartObserver;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;
/** Newer Orchard bounds `tart list` to 30 s (tart.md §3.3 step 14). */
const LIST_TIMEOUT_MS = 30_000;
/** `defaults` is a system tool; an absolute path does not depend on the worker's PATH. */
const DEFAULTS_BINARY = '/usr/bin/defaults';
const DEFAULTS_TIMEOUT_MS = 10_000;
/** Orchard tries the guest agent this long before falling back to ARP for bridged VMs (tart.md §3.3 step 11). */
const BRIDGED_AGENT_WAIT_SECONDS = 5;
/** How long `connect` waits for an IP; its callers (startup script, port-forward) retry on their own. */
const CONNECT_IP_WAIT_SECONDS = 5;
const CONNECT_TIMEOUT_MS = 10_000;
/** Exit status of Tart's "does not exist" / "is not running" / "is already running" errors (tart.md §1.1). */
const EXIT_NOT_FOUND_OR_NOT_RUNNING = 2;

/**
 * The Tart runtime: drives the `tart` CLI the way Orchard's worker does (tart.md §3), one buffered child process per
 * step with SIGKILL on cancellation, and Orchard's `tart command failed: "<line>"` errors.
 */
export class TartRuntime implements VmRuntime {
  readonly kind = 'tart' as const;
  readonly reportedRuntime = 'tart' as const;

  private readonly binary: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly log: (line: string) => void;
  private readonly commandTimeoutMs: number;
  private readonly observer: TartObserver | undefined;
  /** VMs last run with `--net-bridged`, whose IP needs the agent/ARP resolvers; `connect` has no spec to look at. */
  private readonly bridged = new Set<string>();
  /** Short symlinks made for agent sockets whose paths are too long to dial (see {@link socketLinkPath}). */
  private readonly agentLinks = new Map<string, string>();

  constructor(options: TartRuntimeOptions = {}) {
    this.binary = options.tartBinary ?? 'tart';
    this.env = options.env ?? process.env;
    this.log = options.log ?? (() => undefined);
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.observer = options.observer;
  }

  async start(): Promise<void> {
    let version: string | undefined;
    try {
      version = firstNonEmptyLine((await this.tart(['--version'], { timeoutMs: this.commandTimeoutMs })).stdout);
    } catch (err) {
      const { message, exitCode } = err as RuntimeError;
      throw message === TART_NOT_FOUND ? err : new RuntimeError(`tart --version failed: ${message}`, exitCode);
    }
    this.log(`using tart ${version ?? '(no version printed)'}`);
    if (process.platform === 'darwin') {
      await this.warnAboutLeaseTime();
    }
  }

  close(): Promise<void> {
    // Every child is tied to an operation's signal or timeout; only the agent socket links are the runtime's own.
    for (const name of [...this.agentLinks.keys()]) {
      this.unlinkAgent(name);
    }
    return Promise.resolve();
  }

  async pull(image: string, signal: AbortSignal): Promise<void> {
    await this.downloading('pull', () => this.tart(['pull', image], { signal }));
  }

  async clone(image: string, onDiskName: string, signal: AbortSignal): Promise<void> {
    await this.downloading('clone', () => this.tart(['clone', image, onDiskName], { signal }));
  }

  /** Runs a pull or clone and tells the observer about the download its output shows, if any. */
  private async downloading(command: 'pull' | 'clone', run: () => Promise<ProcessResult>): Promise<void> {
    const started = performance.now();
    const { stdout } = await run();
    const download = tartDownload(stdout);
    if (download && this.observer) {
      this.observer.imageDownloaded({ command, ...download, seconds: (performance.now() - started) / 1000 });
    }
  }

  async fqn(image: string, signal: AbortSignal): Promise<string | undefined> {
    try {
      const fqn = (await this.tart(['fqn', image], { signal, timeoutMs: this.commandTimeoutMs })).stdout.trim();
      return fqn === '' ? undefined : fqn;
    } catch {
      // Orchard ignores fqn errors (tart.md §3.3 step 3): a local image, an older tart.
      return undefined;
    }
  }

  async isSuspended(onDiskName: string, signal: AbortSignal): Promise<boolean> {
    try {
      const { stdout } = await this.tart(['get', onDiskName, '--format', 'json'], {
        signal,
        timeoutMs: this.commandTimeoutMs,
      });
      return parseTartGetState(stdout) === 'suspended';
    } catch {
      // Older tart has no State (and then no suspend either); a VM that cannot be read is configured as usual.
      return false;
    }
  }

  async configure(onDiskName: string, hardware: VmHardware, signal: AbortSignal): Promise<void> {
    for (const args of tartSetArgs(hardware, onDiskName)) {
      await this.tart(args, { signal, timeoutMs: this.commandTimeoutMs });
    }
  }

  async run(onDiskName: string, options: VmRunOptions, signal: AbortSignal): Promise<VmRunExit> {
    if (options.netBridged !== '') {
      this.bridged.add(onDiskName);
    } else {
      this.bridged.delete(onDiskName);
    }
    let result: ProcessResult;
    try {
      result = await runProcess(this.binary, tartRunArgs(options, onDiskName), { env: this.env, signal });
    } catch (err) {
      this.observer?.commandFailed('run');
      throw spawnFailure(err);
    }
    if (result.aborted || result.code === 0) {
      // Aborted: SIGKILLed on purpose (Orchard cancels `tart run` the same way), so there is nothing to explain.
      return { code: result.aborted ? null : 0 };
    }
    const error = tartFailureMessage(result);
    this.observer?.commandFailed('run');
    this.log(`tart run ${onDiskName} ended with ${result.code ?? result.signal}: ${error}`);
    return { code: result.code, error };
  }

  async stop(onDiskName: string, timeoutSeconds: number): Promise<void> {
    // `tart stop` SIGKILLs the VM at its own deadline and exits at once (tart.md §1.2 `stop`): the command timeout is
    // slack on top. Exit 2: the VM is not running (or gone), which is what a stop wants.
    await this.tart(tartStopArgs(timeoutSeconds, onDiskName), {
      timeoutMs: timeoutSeconds * 1000 + this.commandTimeoutMs,
      tolerate: [EXIT_NOT_FOUND_OR_NOT_RUNNING],
    });
  }

  async suspend(onDiskName: string): Promise<void> {
    // Returns once SIGUSR1 is sent; the snapshot happens inside `tart run`, which then exits (tart.md §1.2 `suspend`).
    await this.tart(['suspend', onDiskName], { timeoutMs: this.commandTimeoutMs });
  }

  async delete(onDiskName: string): Promise<void> {
    // Exit 2: already gone (newer Orchard, tart.md §3.3 step 13).
    await this.tart(['delete', onDiskName], {
      timeoutMs: this.commandTimeoutMs,
      tolerate: [EXIT_NOT_FOUND_OR_NOT_RUNNING],
    });
    this.bridged.delete(onDiskName);
    this.unlinkAgent(onDiskName);
  }

  async list(): Promise<OnDiskVm[]> {
    const { stdout } = await this.tart(['list', '--format', 'json'], {
      timeoutMs: Math.min(LIST_TIMEOUT_MS, this.commandTimeoutMs),
    });
    return parseTartList(stdout);
  }

  async ip(
    onDiskName: string,
    options: { bridged: boolean; waitSeconds: number },
    signal: AbortSignal,
  ): Promise<string> {
    if (options.bridged) {
      // DHCP leases do not exist for bridged VMs: ask the guest agent first, then ARP (Orchard 0.34+, tart.md §6).
      try {
        return await this.ipWith({ waitSeconds: BRIDGED_AGENT_WAIT_SECONDS, resolver: 'agent' }, onDiskName, signal);
      } catch (err) {
        if (signal.aborted) {
          throw err;
        }
      }
      return this.ipWith({ waitSeconds: options.waitSeconds, resolver: 'arp' }, onDiskName, signal);
    }
    return this.ipWith({ waitSeconds: options.waitSeconds }, onDiskName, signal);
  }

  async connect(onDiskName: string, port: number, signal: AbortSignal): Promise<Socket> {
    const ip = await this.ip(
      onDiskName,
      { bridged: this.bridged.has(onDiskName), waitSeconds: CONNECT_IP_WAIT_SECONDS },
      signal,
    );
    return dial(ip, port, signal).catch((err: Error) => {
      throw new RuntimeError(`failed to connect to ${onDiskName} at ${ip}:${port}: ${err.message}`);
    });
  }

  async udpTarget(onDiskName: string, port: number, signal: AbortSignal): Promise<UdpTarget> {
    const host = await this.ip(
      onDiskName,
      { bridged: this.bridged.has(onDiskName), waitSeconds: CONNECT_IP_WAIT_SECONDS },
      signal,
    );
    return { host, port };
  }

  guestAgent(onDiskName: string): GuestAgentAddress {
    // `tart run` binds it relative to the VM directory (tart.md §4.1); grpc-js dials `unix:///abs/path`.
    const socket = join(this.tartHome(), 'vms', onDiskName, 'control.sock');
    const link = socketLinkPath(socket, tmpdir());
    if (link === undefined) {
      return { target: `unix://${socket}` };
    }
    try {
      ensureSymlink(socket, link);
      this.agentLinks.set(onDiskName, link);
      return { target: `unix://${link}` };
    } catch (err) {
      this.log(`cannot link ${socket} to the shorter ${link}: ${(err as Error).message}`);
      return { target: `unix://${socket}` };
    }
  }

  private unlinkAgent(onDiskName: string): void {
    const link = this.agentLinks.get(onDiskName);
    this.agentLinks.delete(onDiskName);
    if (link !== undefined) {
      rmSync(link, { force: true });
    }
  }

  private tartHome(): string {
    return this.env.TART_HOME || join(this.env.HOME || homedir(), '.tart');
  }

  private async ipWith(
    options: { waitSeconds: number; resolver?: TartIpResolver },
    onDiskName: string,
    signal: AbortSignal,
  ): Promise<string> {
    const args = tartIpArgs(options, onDiskName);
    const ip = (
      await this.tart(args, { signal, timeoutMs: Math.max(0, options.waitSeconds) * 1000 + this.commandTimeoutMs })
    ).stdout.trim();
    if (ip === '') {
      throw new RuntimeError(`tart ${args.join(' ')} printed no address`);
    }
    return ip;
  }

  /**
   * One tart command in this runtime's environment, to completion. Failures other than cancellation are logged, and so
   * are tolerated exits, with Tart's line.
   */
  private async tart(args: string[], options: Omit<TartCallOptions, 'env'>): Promise<ProcessResult> {
    let result: ProcessResult;
    try {
      result = await runTart(this.binary, args, { ...options, env: this.env });
    } catch (err) {
      if (!options.signal?.aborted) {
        this.log(`tart ${args.join(' ')}: ${(err as Error).message}`);
        this.observer?.commandFailed(args[0].replace(/^-+/, ''));
      }
      throw err;
    }
    if (result.code !== 0) {
      this.log(`tart ${args.join(' ')}: exit ${result.code}, taken as done: ${tartFailureMessage(result)}`);
    }
    return result;
  }

  /** Orchard's startup warning about bootpd's lease time (tart.md §3.3 step 15, §6); never fails the start. */
  private async warnAboutLeaseTime(): Promise<void> {
    let warning: string | undefined;
    try {
      const result = await runProcess(DEFAULTS_BINARY, READ_BOOTPD_ARGS, {
        env: this.env,
        timeoutMs: DEFAULTS_TIMEOUT_MS,
      });
      warning =
        result.code === 0
          ? dhcpLeaseTimeWarning(result.stdout)
          : dhcpLeaseTimeWarning(undefined, firstNonEmptyLine(result.stderr, result.stdout));
    } catch (err) {
      warning = dhcpLeaseTimeWarning(undefined, (err as Error).message);
    }
    if (warning !== undefined) {
      this.log(`warning: ${warning}`);
    }
  }
}

/** A TCP connection with Nagle off, given up after {@link CONNECT_TIMEOUT_MS} or when `signal` fires. */
function dial(host: string, port: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Error('cancelled'));
      return;
    }
    const socket = netConnect({ host, port, noDelay: true });
    const fail = (err: Error): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onAbort = (): void => fail(new Error('cancelled'));
    const timer = setTimeout(
      () => fail(new Error(`timed out after ${CONNECT_TIMEOUT_MS / 1000} s`)),
      CONNECT_TIMEOUT_MS,
    );
    const cleanup = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.off('error', fail);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', fail);
    socket.once('connect', () => {
      cleanup();
      resolve(socket);
    });
  });
}
