import type { Socket } from 'node:net';
import type { HostDir, Runtime } from '@grove/resources';

/**
 * A failure of a runtime operation whose message is fit to show a user as the VM's `status_message` (for Tart:
 * `tart command failed: "<first non-empty stderr line>"`, orchard.md §5.3). `exitCode` is the runtime command's exit
 * status when there was one, so that callers can tell "already gone" (Tart's exit 2) from real failures.
 */
export class RuntimeError extends Error {
  constructor(
    message: string,
    readonly exitCode?: number,
  ) {
    super(message);
    this.name = 'RuntimeError';
  }
}

/** Settings applied once after the clone (`tart set`); zero means "leave the image's value". */
export interface VmHardware {
  /** CPUs: the VM's `assignedCPU`, else its `cpu`. */
  cpu: number;
  /** Memory in MiB: the VM's `assignedMemory`, else its `memory`. */
  memory: number;
  /** Disk size in GB. */
  diskSize: number;
  /** Give the VM a new random serial number (`tart set --random-serial`). */
  randomSerial: boolean;
}

/** Everything that becomes a flag of `tart run`, in the VM's own terms; the runtime turns it into argv. */
export interface VmRunOptions {
  netSoftnet: boolean;
  netSoftnetAllow: string[];
  netSoftnetBlock: string[];
  /** Worker ports forwarded into the VM by Softnet, `EXTERNAL:INTERNAL` each. */
  netSoftnetExpose: string[];
  /** Interface for bridged networking; empty for the default NAT. */
  netBridged: string;
  headless: boolean;
  nested: boolean;
  suspendable: boolean;
  /** Audio pass-through; Tart runs with `--no-audio` without it. */
  audio: boolean;
  /** Clipboard sharing; Tart runs with `--no-clipboard` without it. */
  clipboard: boolean;
  /** Tart's emulated USB input devices: false detaches them (`--no-usb-accessories`), undefined keeps Tart's default. */
  usbAccessories?: boolean;
  hostDirs: HostDir[];
  /**
   * The VM's login (its `username`/`password`, else `admin`/`admin`). Tart ignores it (the image decides); the
   * synthetic runtime's SSH server accepts it as well as `admin`/`admin`.
   */
  credentials: { username: string; password: string };
}

/** How a `run` ended. `code` is null when the runtime process was killed by a signal. */
export interface VmRunExit {
  code: number | null;
  /** The runtime's own explanation for a non-zero exit (for Tart the wrapped first stderr line), if any. */
  error?: string;
}

/** A VM the runtime keeps on disk (`tart list`), whether or not Grove made it. */
export interface OnDiskVm {
  name: string;
  running: boolean;
}

/** A UDP address of a VM service. */
export interface UdpTarget {
  host: string;
  port: number;
}

/** An open session to a VM's guest agent (tart.md §4): where to dial the `Agent` gRPC service. */
export interface GuestAgentAddress {
  /** A grpc-js target such as `unix:///abs/path/control.sock`. */
  target: string;
}

/**
 * The path of a grpc-js `unix:` target (`unix:///abs/path` or `unix:path`), the only kind runtimes give for their
 * guest agents; undefined for anything else.
 */
export function unixSocketPath(target: string): string | undefined {
  if (target.startsWith('unix://')) {
    return target.slice('unix://'.length);
  }
  return target.startsWith('unix:') ? target.slice('unix:'.length) : undefined;
}

/**
 * One VM runtime on a worker host: Tart (the `tart` CLI) or the in-process synthetic runtime. The worker's VM
 * lifecycle (`ManagedVm`) drives every runtime through this interface in the order of tart.md §3.3, so a runtime
 * implements steps, not policy: no status messages, no retries, no reporting. VMs are named by their on-disk name
 * `grove-<name>-<uid>-<restartCount>`.
 *
 * Cancellation: operations that take an `AbortSignal` stop promptly when it fires (Tart: the child is killed) and
 * reject; nothing is left half-registered in the runtime's own bookkeeping.
 */
export interface VmRuntime {
  /** `tart` or `synthetic`, for logs and `--help`. */
  readonly kind: 'tart' | 'synthetic';
  /** The runtime the worker registers with (`Worker.runtime`); the synthetic runtime stands in for `tart`. */
  readonly reportedRuntime: Runtime;

  /** Prepares the runtime (checks the binary, creates directories); throws a {@link RuntimeError} if unusable. */
  start(): Promise<void>;
  /** Stops everything the runtime itself keeps open (servers, children). VMs on disk are left alone. */
  close(): Promise<void>;

  /** Fetches the image into the local cache (`tart pull`); only called for `imagePullPolicy: Always`. */
  pull(image: string, signal: AbortSignal): Promise<void>;
  /** Creates the VM from an image or another local VM (`tart clone`); pulls implicitly when not cached. */
  clone(image: string, onDiskName: string, signal: AbortSignal): Promise<void>;
  /** The fully qualified image reference with its digest (`tart fqn`), or undefined when unknown. Never throws. */
  fqn(image: string, signal: AbortSignal): Promise<string | undefined>;
  /** Whether the VM holds a saved suspended state, in which case it must not be reconfigured before running. */
  isSuspended(onDiskName: string, signal: AbortSignal): Promise<boolean>;
  /** Applies the hardware settings and a random MAC address (`tart set …`), in tart.md §3.3's order. */
  configure(onDiskName: string, hardware: VmHardware, signal: AbortSignal): Promise<void>;
  /**
   * Runs the VM in the foreground (`tart run`): resolves when it ends, whether through `stop`, `suspend`, a crash or
   * the signal (which kills it). Rejects only when the run could not be started at all.
   */
  run(onDiskName: string, options: VmRunOptions, signal: AbortSignal): Promise<VmRunExit>;
  /** Asks a running VM to shut down (`tart stop --timeout N`); resolves once the request is done, not the run. */
  stop(onDiskName: string, timeoutSeconds: number): Promise<void>;
  /** Saves a running suspendable VM's state and ends its run (`tart suspend`). */
  suspend(onDiskName: string): Promise<void>;
  /** Removes the VM from disk (`tart delete`); a VM that is already gone is not an error. */
  delete(onDiskName: string): Promise<void>;
  /** Every VM on disk, Grove's and others'. */
  list(): Promise<OnDiskVm[]>;

  /** The VM's IP address (`tart ip`, with the resolvers tart.md §3.3 step 11 prescribes for bridged VMs). */
  ip(onDiskName: string, options: { bridged: boolean; waitSeconds: number }, signal: AbortSignal): Promise<string>;
  /**
   * Opens a TCP connection to a port of the VM (port-forwarding, startup scripts, SSH). Tart dials `<ip>:<port>`;
   * the synthetic runtime maps VM ports to loopback ports it serves. Resolves once connected.
   */
  connect(onDiskName: string, port: number, signal: AbortSignal): Promise<Socket>;
  /**
   * Where datagrams for a UDP port of the VM go (UDP endpoints, orchard-2026.md §1.2.2): Tart, the VM's IP and that
   * port; the synthetic runtime, the loopback port it serves that VM port on. Rejects while the VM does not run.
   */
  udpTarget(onDiskName: string, port: number, signal: AbortSignal): Promise<UdpTarget>;
  /** Where the VM's guest agent answers (Tart: `<TART_HOME>/vms/<name>/control.sock`). */
  guestAgent(onDiskName: string): GuestAgentAddress;
}
