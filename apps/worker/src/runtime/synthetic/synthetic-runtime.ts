import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Server as GrpcServer, ServerCredentials } from '@grpc/grpc-js';
import { hostAgent, loadTartAgentProtocol } from '@grove/proto';
import {
  RuntimeError,
  type GuestAgentAddress,
  type OnDiskVm,
  type VmHardware,
  type VmRunExit,
  type VmRunOptions,
  type VmRuntime,
} from '../vm-runtime';
import { VmSshServer } from './vm-ssh-server';

export interface SyntheticDelays {
  pull?: number;
  clone?: number;
  configure?: number;
  boot?: number;
  delete?: number;
}

export interface SyntheticRuntimeOptions {
  dataDir: string;
  /** Milliseconds each step takes; zero by default. */
  delays?: SyntheticDelays;
  log?: (line: string) => void;
}

/** What an image name asks the synthetic runtime to do wrong (for tests and demos). */
export interface ImageFaults {
  failPull: boolean;
  failClone: boolean;
  failRun: boolean;
  /** End the run by itself after this many milliseconds. */
  exitAfterMs?: number;
}

/**
 * Faults requested by the image name: `fail-pull`, `fail-clone` or `fail-run` anywhere in it make that step fail;
 * `exit-after-<ms>` makes the VM stop by itself (Orchard's "VM exited unexpectedly").
 */
export function imageFaults(image: string): ImageFaults {
  const exitAfter = /exit-after-(\d+)/.exec(image);
  return {
    failPull: image.includes('fail-pull'),
    failClone: image.includes('fail-clone'),
    failRun: image.includes('fail-run'),
    exitAfterMs: exitAfter ? Number(exitAfter[1]) : undefined,
  };
}

interface VmRecord {
  image: string;
  hardware?: VmHardware;
  suspended: boolean;
}

/** The servers of one running synthetic VM and how to end its run. */
interface RunningVm {
  ports: Map<number, number>;
  end(exit: VmRunExit): void;
}

/** sun_path holds 108 bytes on Linux and 104 on macOS; longer socket paths move to a short name in the temp dir. */
const MAX_SOCKET_PATH = 100;

/**
 * The synthetic runtime: VMs that live in the worker process, for development and tests on any machine, no root.
 * Each VM is a directory `<dataDir>/vms/<onDiskName>/` (so a restarted worker finds its clones, and garbage collection
 * has something to collect) with a scratch directory `home/`. While it runs it serves on 127.0.0.1:
 * - VM port 22: a real SSH server (`admin`/`admin` or the VM's credentials) whose commands run with /bin/sh in the
 *   scratch directory **on the worker host**;
 * - VM port 7: an echo service;
 * - the Tart guest agent (`/Agent/Exec`, `/Agent/ResolveIP`) on `control.sock`, running commands on the host too.
 * Its IP is 127.0.0.1; `connect` maps VM ports to the loopback ports it chose. Image names can ask for failures
 * ({@link imageFaults}).
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

  close(): Promise<void> {
    for (const vm of this.running.values()) {
      vm.end({ code: null });
    }
    return Promise.resolve();
  }

  async pull(image: string, signal: AbortSignal): Promise<void> {
    await this.wait('pull', signal);
    if (imageFaults(image).failPull) {
      throw this.fault('pull', image);
    }
  }

  async clone(image: string, onDiskName: string, signal: AbortSignal): Promise<void> {
    await this.wait('clone', signal);
    if (imageFaults(image).failClone) {
      throw this.fault('clone', image);
    }
    if (existsSync(this.dir(onDiskName))) {
      throw new RuntimeError(`synthetic runtime: VM "${onDiskName}" already exists`);
    }
    mkdirSync(join(this.dir(onDiskName), 'home'), { recursive: true });
    this.save(onDiskName, { image, suspended: false });
  }

  fqn(image: string): Promise<string | undefined> {
    return Promise.resolve(`${image}@sha256:${createHash('sha256').update(image).digest('hex')}`);
  }

  isSuspended(onDiskName: string): Promise<boolean> {
    return Promise.resolve(this.load(onDiskName).suspended);
  }

  async configure(onDiskName: string, hardware: VmHardware, signal: AbortSignal): Promise<void> {
    await this.wait('configure', signal);
    this.save(onDiskName, { ...this.load(onDiskName), hardware });
  }

  async run(onDiskName: string, options: VmRunOptions, signal: AbortSignal): Promise<VmRunExit> {
    const record = this.load(onDiskName);
    const faults = imageFaults(record.image);
    if (faults.failRun) {
      throw this.fault('run', record.image);
    }
    if (this.running.has(onDiskName)) {
      throw new RuntimeError(`synthetic runtime: VM "${onDiskName}" is already running`);
    }
    await this.wait('boot', signal);
    this.save(onDiskName, { ...record, suspended: false });
    const home = join(this.dir(onDiskName), 'home');
    const ssh = new VmSshServer({ hostKey: this.sshHostKey(), credentials: options.credentials, cwd: home });
    const echo = createServer((socket) => {
      socket.setNoDelay(true);
      socket.on('error', () => socket.destroy());
      socket.pipe(socket);
    });
    const agent = hostAgent({ cwd: home, ip: () => '127.0.0.1' });
    const grpc = new GrpcServer();
    grpc.addService(loadTartAgentProtocol().Agent.service, agent.handlers);
    const stopAll = () => {
      ssh.close();
      echo.close();
      agent.killAll();
      grpc.forceShutdown();
    };
    try {
      const sshPort = await ssh.listen();
      const echoPort = await listen(echo);
      await new Promise<void>((resolve, reject) =>
        grpc.bindAsync(`unix://${this.socketPath(onDiskName)}`, ServerCredentials.createInsecure(), (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      return await new Promise<VmRunExit>((resolve) => {
        let timer: NodeJS.Timeout | undefined;
        const end = (exit: VmRunExit) => {
          if (this.running.get(onDiskName) !== vm) {
            return;
          }
          this.running.delete(onDiskName);
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          stopAll();
          resolve(exit);
        };
        const vm: RunningVm = {
          ports: new Map([
            [22, sshPort],
            [7, echoPort],
          ]),
          end,
        };
        const onAbort = () => end({ code: null });
        this.running.set(onDiskName, vm);
        signal.addEventListener('abort', onAbort);
        if (signal.aborted) {
          onAbort();
        }
        if (faults.exitAfterMs !== undefined) {
          timer = setTimeout(
            () =>
              end({
                code: 1,
                error: `synthetic runtime: the VM exited after ${faults.exitAfterMs} ms (the image name asks for it)`,
              }),
            faults.exitAfterMs,
          );
        }
      });
    } catch (err) {
      stopAll();
      throw new RuntimeError(`synthetic runtime: cannot start VM "${onDiskName}": ${(err as Error).message}`);
    }
  }

  stop(onDiskName: string): Promise<void> {
    this.running.get(onDiskName)?.end({ code: 0 });
    return Promise.resolve();
  }

  suspend(onDiskName: string): Promise<void> {
    const vm = this.running.get(onDiskName);
    if (!vm) {
      return Promise.reject(new RuntimeError(`synthetic runtime: VM "${onDiskName}" is not running`));
    }
    this.save(onDiskName, { ...this.load(onDiskName), suspended: true });
    vm.end({ code: 0 });
    return Promise.resolve();
  }

  async delete(onDiskName: string): Promise<void> {
    this.running.get(onDiskName)?.end({ code: null });
    await this.wait('delete', new AbortController().signal);
    rmSync(this.dir(onDiskName), { recursive: true, force: true });
    rmSync(this.shortSocketPath(onDiskName), { force: true });
  }

  list(): Promise<OnDiskVm[]> {
    const names = existsSync(this.vmsDir) ? readdirSync(this.vmsDir) : [];
    return Promise.resolve(names.map((name) => ({ name, running: this.running.has(name) })));
  }

  ip(onDiskName: string, _options?: { bridged: boolean; waitSeconds: number }, _signal?: AbortSignal): Promise<string> {
    return this.running.has(onDiskName)
      ? Promise.resolve('127.0.0.1')
      : Promise.reject(new RuntimeError(`synthetic runtime: VM "${onDiskName}" is not running`));
  }

  connect(onDiskName: string, port: number, signal: AbortSignal): Promise<Socket> {
    const vm = this.running.get(onDiskName);
    if (!vm) {
      return Promise.reject(new RuntimeError(`synthetic runtime: VM "${onDiskName}" is not running`));
    }
    const local = vm.ports.get(port);
    if (local === undefined) {
      return Promise.reject(
        new RuntimeError(`the synthetic VM "${onDiskName}" serves only ports 22 (SSH) and 7 (echo), not ${port}`),
      );
    }
    return new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: local, noDelay: true });
      const onAbort = () => {
        socket.destroy();
        reject(new Error('cancelled'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        signal.removeEventListener('abort', onAbort);
        resolve(socket);
      });
      socket.once('error', (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(new RuntimeError(`cannot connect to port ${port} of VM "${onDiskName}": ${err.message}`));
      });
    });
  }

  guestAgent(onDiskName: string): GuestAgentAddress {
    return { target: `unix://${this.socketPath(onDiskName)}` };
  }

  private get vmsDir(): string {
    return join(this.options.dataDir, 'vms');
  }

  private dir(onDiskName: string): string {
    return join(this.vmsDir, onDiskName);
  }

  private socketPath(onDiskName: string): string {
    const path = join(this.dir(onDiskName), 'control.sock');
    return path.length <= MAX_SOCKET_PATH ? path : this.shortSocketPath(onDiskName);
  }

  private shortSocketPath(onDiskName: string): string {
    const hash = createHash('sha256').update(this.dir(onDiskName)).digest('hex').slice(0, 16);
    return join(tmpdir(), `grove-vm-${hash}.sock`);
  }

  private load(onDiskName: string): VmRecord {
    try {
      return JSON.parse(readFileSync(join(this.dir(onDiskName), 'vm.json'), 'utf8')) as VmRecord;
    } catch {
      throw new RuntimeError(`synthetic runtime: VM "${onDiskName}" does not exist`);
    }
  }

  private save(onDiskName: string, record: VmRecord): void {
    writeFileSync(join(this.dir(onDiskName), 'vm.json'), `${JSON.stringify(record, null, 2)}\n`);
  }

  private sshHostKey(): string {
    // ECDSA in OpenSSL's PEM: ssh2's own ed25519 generator emits a key its parser rejects about once in 200 tries.
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

  private fault(step: string, image: string): RuntimeError {
    return new RuntimeError(`synthetic runtime: ${step} of "${image}" failed (the image name asks for it)`);
  }
}

function listen(server: NetServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}
