import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  RuntimeError,
  type GuestAgentAddress,
  type OnDiskVm,
  type UdpTarget,
  type VmHardware,
  type VmRunExit,
  type VmRunOptions,
  type VmRuntime,
} from '../vm-runtime';
import { exitAfterMessage, faultMessage, imageFaults } from './image-faults';
import { connectLoopback } from './service-listener';
import { VmServices } from './vm-services';

/** How long each step of a synthetic VM takes, in milliseconds (0 when unset). */
export interface SyntheticDelays {
  pull?: number;
  clone?: number;
  configure?: number;
  boot?: number;
  delete?: number;
}

export interface SyntheticRuntimeOptions {
  /** Where VMs live: `<dataDir>/vms/<onDiskName>/`. */
  dataDir: string;
  delays?: SyntheticDelays;
  log?: (line: string) => void;
}

/** The VM's file `<vmdir>/vm.json`. */
interface VmRecord {
  image: string;
  /** Set by `configure`. */
  hardware?: VmHardware;
  /** Set by `suspend`, cleared by the next `run`. */
  suspended: boolean;
}

/** A VM whose `run` is in progress: booting (no `ports` yet) or serving. */
interface RunningVm {
  /** VM port → loopback port, once booted. */
  ports?: ReadonlyMap<number, number>;
  /** VM UDP port → loopback UDP port, once booted. */
  udpPorts?: ReadonlyMap<number, number>;
  /** Resolves when booted (or the run ended first). */
  booted: Promise<void>;
  /** Ends the run with this exit (the first call wins) and resolves once all its servers are closed. */
  end(exit: VmRunExit): Promise<void>;
}

/** sun_path holds 104 bytes on macOS (108 on Linux) including the NUL; longer paths move to the temp dir. */
const MAX_SOCKET_PATH = 103;

/**
 * The synthetic runtime: VMs that live inside the worker process, for `grove dev` and tests on any machine, without
 * root or Tart. A VM is a directory `<dataDir>/vms/<onDiskName>/` holding `vm.json` (image, hardware, suspension) and
 * a scratch directory `home/`, so a restarted worker finds its VMs again (none of them running). While a VM runs, it
 * serves on 127.0.0.1, on ports the OS picks ({@link VmServices}):
 * - VM port 22: an SSH server (`VmSshServer`); its commands run with /bin/sh in `home/` **on the worker host**;
 * - VM port 7: an echo service, on TCP and on UDP;
 * - VM port 5900: a VNC server (RFB 3.8, no authentication, `serveRfb`) showing a live test pattern
 *   (`TestPatternScreen`) that pointer and keyboard input draw on, so the console's screen is tested for real;
 * - VM port 80: a web server (`VmWebServer`) with a page naming the VM, for the console's preview links;
 * - the Tart guest agent (`/Agent/Exec`, `/Agent/ResolveIP`, tart.md §4.3) on `<vmdir>/control.sock`, its commands
 *   also on the host; when that path is too long for a Unix socket, on a short path in the temp dir instead.
 * The VM's IP is 127.0.0.1, and `connect` maps its ports 22, 7, 5900 and 80 to the loopback ports (`udpTarget` port
 * 7/udp).
 *
 * Failure injection (tests and demos), by the image name ({@link imageFaults}): `fail-pull`, `fail-clone` or
 * `fail-run` anywhere in it makes that step fail with a {@link RuntimeError} that says so, and `exit-after-<ms>` makes
 * each run end by itself after that many milliseconds with `{ code: 1, error }`, like a VM that crashed. `no-agent`
 * gives a VM whose image lacks the guest agent (its control socket closes every connection at once) and `hung-agent`
 * one whose agent never answers; both still serve SSH, so exec falls back to it.
 */
export class SyntheticRuntime implements VmRuntime {
  readonly kind = 'synthetic';
  readonly reportedRuntime = 'tart';
  private readonly running = new Map<string, RunningVm>();
  private hostKey: string | undefined;

  constructor(private readonly options: SyntheticRuntimeOptions) {}

  start(): Promise<void> {
    mkdirSync(this.vmsDir, { recursive: true });
    return Promise.resolve();
  }

  async close(): Promise<void> {
    await Promise.all([...this.running.values()].map((vm) => vm.end({ code: null })));
  }

  async pull(image: string, signal: AbortSignal): Promise<void> {
    await this.wait('pull', signal);
    if (imageFaults(image).failPull) {
      throw new RuntimeError(faultMessage('pull', image));
    }
  }

  async clone(image: string, onDiskName: string, signal: AbortSignal): Promise<void> {
    await this.wait('clone', signal);
    if (imageFaults(image).failClone) {
      throw new RuntimeError(faultMessage('clone', image));
    }
    mkdirSync(this.vmsDir, { recursive: true });
    try {
      mkdirSync(this.dir(onDiskName)); // fails if it exists: two clones onto one name cannot both succeed
    } catch (err) {
      throw new RuntimeError(
        (err as NodeJS.ErrnoException).code === 'EEXIST'
          ? `synthetic runtime: VM "${onDiskName}" already exists`
          : `synthetic runtime: cannot create VM "${onDiskName}": ${(err as Error).message}`,
      );
    }
    mkdirSync(this.home(onDiskName));
    this.save(onDiskName, { image, suspended: false });
  }

  fqn(image: string, _signal?: AbortSignal): Promise<string | undefined> {
    return Promise.resolve(`${image}@sha256:${createHash('sha256').update(image).digest('hex')}`);
  }

  isSuspended(onDiskName: string, _signal?: AbortSignal): Promise<boolean> {
    return Promise.resolve(this.load(onDiskName).suspended);
  }

  async configure(onDiskName: string, hardware: VmHardware, signal: AbortSignal): Promise<void> {
    this.load(onDiskName);
    await this.wait('configure', signal);
    this.save(onDiskName, { ...this.load(onDiskName), hardware });
  }

  async run(onDiskName: string, options: VmRunOptions, signal: AbortSignal): Promise<VmRunExit> {
    const record = this.load(onDiskName);
    const faults = imageFaults(record.image);
    if (faults.failRun) {
      throw new RuntimeError(faultMessage('run', record.image));
    }
    if (this.running.has(onDiskName)) {
      throw new RuntimeError(`synthetic runtime: VM "${onDiskName}" is already running`);
    }
    const home = this.home(onDiskName);
    const socketPath = this.socketPath(onDiskName);
    const services = new VmServices({
      onDiskName,
      hostKey: this.sshHostKey(),
      credentials: options.credentials,
      home,
      agent: faults.agent,
      log: (line) => this.log(line),
    });
    const boot = new AbortController();

    let exited: (exit: VmRunExit) => void = () => undefined;
    const exit = new Promise<VmRunExit>((resolveExit) => (exited = resolveExit));
    let ending: Promise<void> | undefined;
    let timer: NodeJS.Timeout | undefined;
    const end = (result: VmRunExit): Promise<void> => {
      ending ??= (async () => {
        boot.abort();
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        await services.close();
        this.running.delete(onDiskName);
        this.log(`${onDiskName}: stopped${result.error ? ` (${result.error})` : ''}`);
        exited(result);
      })();
      return ending;
    };
    const onAbort = () => void end({ code: null });

    const vm: RunningVm = { booted: Promise.resolve(), end };
    vm.booted = (async () => {
      await this.wait('boot', boot.signal);
      rmSync(socketPath, { force: true }); // left behind by a worker that died
      const { ports, udpPorts, describe } = await services.listen(socketPath);
      boot.signal.throwIfAborted();
      vm.ports = ports;
      vm.udpPorts = udpPorts;
      this.save(onDiskName, { ...this.load(onDiskName), suspended: false });
      this.log(`${onDiskName}: running, ${describe}`);
      if (faults.exitAfterMs !== undefined) {
        const ms = faults.exitAfterMs;
        timer = setTimeout(() => void end({ code: 1, error: exitAfterMessage(ms) }), ms);
      }
    })();
    this.running.set(onDiskName, vm);
    signal.addEventListener('abort', onAbort);
    if (signal.aborted) {
      onAbort();
    }
    try {
      await vm.booted;
    } catch (err) {
      if (!boot.signal.aborted) {
        await end({ code: null });
        throw new RuntimeError(`synthetic runtime: cannot start VM "${onDiskName}": ${(err as Error).message}`);
      }
      // Stopped, suspended or cancelled while booting: the run ended the way `end` was told.
    }
    return exit;
  }

  /** Ends the run at once: a synthetic VM has nothing to shut down gracefully, so the timeout does not matter. */
  async stop(onDiskName: string, _timeoutSeconds?: number): Promise<void> {
    await this.running.get(onDiskName)?.end({ code: 0 });
  }

  async suspend(onDiskName: string): Promise<void> {
    const vm = this.running.get(onDiskName);
    if (!vm) {
      throw new RuntimeError(`synthetic runtime: VM "${onDiskName}" is not running`);
    }
    this.save(onDiskName, { ...this.load(onDiskName), suspended: true });
    await vm.end({ code: 0 });
  }

  async delete(onDiskName: string): Promise<void> {
    await this.running.get(onDiskName)?.end({ code: null });
    await this.wait('delete', new AbortController().signal);
    rmSync(this.dir(onDiskName), { recursive: true, force: true });
    rmSync(this.shortSocketPath(onDiskName), { force: true });
  }

  list(): Promise<OnDiskVm[]> {
    const names = existsSync(this.vmsDir) ? readdirSync(this.vmsDir) : [];
    return Promise.resolve(names.sort().map((name) => ({ name, running: this.running.has(name) })));
  }

  /** 127.0.0.1 once the VM has booted; while it boots, waits for that up to `waitSeconds` (`tart ip --wait`). */
  async ip(
    onDiskName: string,
    options: { bridged: boolean; waitSeconds: number },
    signal: AbortSignal,
  ): Promise<string> {
    const vm = this.running.get(onDiskName);
    if (vm && !vm.ports) {
      const wait = new AbortController();
      const stopWaiting = () => wait.abort();
      signal.addEventListener('abort', stopWaiting);
      await Promise.race([
        vm.booted.catch(() => undefined),
        delay(options.waitSeconds * 1000, undefined, { signal: wait.signal }),
      ])
        .catch(() => undefined)
        .finally(() => {
          signal.removeEventListener('abort', stopWaiting);
          wait.abort();
        });
      signal.throwIfAborted();
    }
    if (!this.running.get(onDiskName)?.ports) {
      throw new RuntimeError(`synthetic runtime: VM "${onDiskName}" is not running`);
    }
    return '127.0.0.1';
  }

  /** The loopback port of the VM's UDP echo (port 7/udp), its only UDP service. */
  udpTarget(onDiskName: string, port: number, _signal: AbortSignal): Promise<UdpTarget> {
    const ports = this.running.get(onDiskName)?.udpPorts;
    if (!ports) {
      return Promise.reject(new RuntimeError(`synthetic runtime: VM "${onDiskName}" is not running`));
    }
    const local = ports.get(port);
    if (local === undefined) {
      return Promise.reject(
        new RuntimeError(`the synthetic VM "${onDiskName}" serves only UDP port 7 (echo), not ${port}`),
      );
    }
    return Promise.resolve({ host: '127.0.0.1', port: local });
  }

  connect(onDiskName: string, port: number, signal: AbortSignal): Promise<Socket> {
    const ports = this.running.get(onDiskName)?.ports;
    if (!ports) {
      return Promise.reject(new RuntimeError(`synthetic runtime: VM "${onDiskName}" is not running`));
    }
    const local = ports.get(port);
    if (local === undefined) {
      return Promise.reject(
        new RuntimeError(
          // The port first: a WebSocket close reason keeps only 123 bytes of this.
          `port ${port} of the synthetic VM "${onDiskName}" is closed: it serves 22 (SSH), 7 (echo), 80 (HTTP) and 5900 (VNC)`,
        ),
      );
    }
    return connectLoopback(local, signal, `port ${port} of VM "${onDiskName}"`);
  }

  guestAgent(onDiskName: string): GuestAgentAddress {
    return { target: `unix://${this.socketPath(onDiskName)}` };
  }

  private get vmsDir(): string {
    return resolve(this.options.dataDir, 'vms');
  }

  private dir(onDiskName: string): string {
    return join(this.vmsDir, onDiskName);
  }

  private home(onDiskName: string): string {
    return join(this.dir(onDiskName), 'home');
  }

  /** `<vmdir>/control.sock`, or a short path in the temp dir when that one does not fit in `sun_path`. */
  private socketPath(onDiskName: string): string {
    const path = join(this.dir(onDiskName), 'control.sock');
    return Buffer.byteLength(path) <= MAX_SOCKET_PATH ? path : this.shortSocketPath(onDiskName);
  }

  private shortSocketPath(onDiskName: string): string {
    const hash = createHash('sha256').update(this.dir(onDiskName)).digest('hex').slice(0, 16);
    return join(tmpdir(), `grove-vm-${hash}.sock`);
  }

  private load(onDiskName: string): VmRecord {
    let text: string;
    try {
      text = readFileSync(join(this.dir(onDiskName), 'vm.json'), 'utf8');
    } catch {
      throw new RuntimeError(`synthetic runtime: VM "${onDiskName}" does not exist`);
    }
    return JSON.parse(text) as VmRecord;
  }

  private save(onDiskName: string, record: VmRecord): void {
    writeFileSync(join(this.dir(onDiskName), 'vm.json'), `${JSON.stringify(record, null, 2)}\n`);
  }

  private sshHostKey(): string {
    // ECDSA P-256 from node:crypto rather than ed25519: ssh2 1.17's utils.generateKeyPairSync('ed25519') yields a key
    // its own parser rejects about once in a thousand, and it cannot parse node:crypto's PKCS#8 ed25519 keys.
    this.hostKey ??= generateKeyPairSync('ec', {
      namedCurve: 'prime256v1',
      privateKeyEncoding: { type: 'sec1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    }).privateKey;
    return this.hostKey;
  }

  private async wait(step: keyof SyntheticDelays, signal: AbortSignal): Promise<void> {
    const ms = this.options.delays?.[step] ?? 0;
    if (ms > 0) {
      await delay(ms, undefined, { signal });
    }
    signal.throwIfAborted();
  }

  private log(line: string): void {
    this.options.log?.(`synthetic runtime: ${line}`);
  }
}
