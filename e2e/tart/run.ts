import { appendFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { type ParsedArgs, flag, intValue, value, values } from './args';
import { ControlSocket } from './agent-server';
import type { Command, Context } from './context';
import { ForeignError, TartRuntimeError, UsageError, vmAlreadyRunning } from './errors';
import { DEFAULT_SUSPEND_FAILURE } from './knobs';
import { grantLease, learnArp } from './leases';
import { tryLock, unlock, withLock } from './locks';
import { randomMac } from './names';
import { complain, say } from './output';
import type { VMDir } from './storage';

/** What `tart run` reacts to; SIGTERM and SIGHUP keep their default action (tart.md §1.2 `run`, Signals). */
const HANDLED_SIGNALS = ['SIGINT', 'SIGUSR1', 'SIGUSR2'] as const;
type HandledSignal = (typeof HANDLED_SIGNALS)[number];

const DEFAULT_MOUNT_TAG = 'com.apple.virtio-fs.automount';

interface DirectoryShare {
  name?: string;
  path: string;
  readOnly: boolean;
  tag: string;
}

/** `--dir [name:]path[:options]`, options being the last `:`-part when it is a comma-separated `ro`/`tag=` list. */
export function parseDirectoryShare(raw: string): DirectoryShare {
  let rest = raw;
  let readOnly = false;
  let tag = DEFAULT_MOUNT_TAG;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon !== -1) {
    const options = rest.slice(lastColon + 1).split(',');
    if (options.every((o) => o === 'ro' || /^tag=.+/.test(o))) {
      for (const option of options) {
        if (option === 'ro') {
          readOnly = true;
        } else {
          tag = option.slice('tag='.length);
        }
      }
      rest = rest.slice(0, lastColon);
    }
  }
  if (/^https?:/.test(rest)) {
    return { path: rest, readOnly, tag };
  }
  const colon = rest.indexOf(':');
  return colon === -1
    ? { path: rest, readOnly, tag }
    : { name: rest.slice(0, colon), path: rest.slice(colon + 1), readOnly, tag };
}

function swiftArray(items: string[]): string {
  return `[${items.map((i) => JSON.stringify(i)).join(', ')}]`;
}

interface RunFlags {
  suspendable: boolean;
  bridged: boolean;
  softnet: boolean;
  controlFd: number | undefined;
}

/** Tart's validate() plus the checks its run() makes before taking the lock; all ValidationErrors (exit 64). */
function validate(ctx: Context, args: ParsedArgs, vm: VMDir): RunFlags {
  const has = (name: string): boolean => flag(args, name);
  if (has('vnc') && has('vnc-experimental')) {
    throw new UsageError('--vnc and --vnc-experimental are mutually exclusive');
  }
  const softnet =
    has('net-softnet') ||
    ['net-softnet-allow', 'net-softnet-block', 'net-softnet-expose', 'net-softnet-control-fd'].some(
      (o) => value(args, o) !== undefined,
    );
  const bridged = values(args, 'net-bridged').length > 0;
  if ([bridged, softnet, has('net-host')].filter(Boolean).length > 1) {
    throw new UsageError('--net-bridged, --net-softnet and --net-host are mutually exclusive');
  }
  if (has('graphics') && has('no-graphics')) {
    throw new UsageError('--graphics and --no-graphics are mutually exclusive');
  }
  if ((has('no-graphics') || has('vnc') || has('vnc-experimental')) && has('capture-system-keys')) {
    throw new UsageError('--captures-system-keys can only be used with the default VM view');
  }
  const controlFd = intValue(args, 'net-softnet-control-fd');
  if (controlFd !== undefined && controlFd <= 2) {
    throw new UsageError('--net-softnet-control-fd should be greater than 2');
  }

  // Opening the VM happens during validation, so a missing VM is an `Error:`-prefixed failure with exit 1 (§1.1).
  if (!vm.exists()) {
    throw new ForeignError(`the specified VM "${vm.name}" does not exist`);
  }
  const suspendable = has('suspendable') || vm.state() === 'suspended';
  const shares = values(args, 'dir').map(parseDirectoryShare);
  if (suspendable) {
    if (vm.config().os !== 'darwin') {
      throw new UsageError('You can only suspend macOS VMs');
    }
    if (shares.length > 0) {
      throw new UsageError('Suspending VMs with shared directories is not supported');
    }
    if (has('no-trackpad') || has('no-pointer') || has('no-keyboard')) {
      throw new UsageError('--suspendable cannot be used together with --no-trackpad, --no-pointer or --no-keyboard');
    }
  }
  for (const disk of values(args, 'disk')) {
    if (disk.endsWith('-amd64.iso')) {
      throw new UsageError(
        "Seems you have a disk targeting x86 architecture (hence amd64 in the name). Please use an 'arm64' version of the disk.",
      );
    }
  }
  const byTag = new Map<string, DirectoryShare[]>();
  for (const share of shares) {
    byTag.set(share.tag, [...(byTag.get(share.tag) ?? []), share]);
  }
  for (const group of byTag.values()) {
    if (group.length > 1 && group.some((s) => s.name === undefined)) {
      throw new UsageError('invalid --dir syntax: for multiple directory shares each one of them should be named');
    }
  }
  const interfaces = values(args, 'net-bridged');
  if (interfaces.some((i) => !ctx.knobs.bridgeInterfaces.includes(i))) {
    throw new UsageError(
      `no bridge interfaces matched "${swiftArray(interfaces)}", available interfaces: ${swiftArray(ctx.knobs.bridgeInterfaces)}`,
    );
  }
  return { suspendable, bridged, softnet, controlFd };
}

/**
 * `--net-softnet-control-fd` (2.34+): newline-delimited JSON-RPC 2.0 on an inherited socket; `softnet.policy.set`
 * replaces the allow/block lists and echoes them (tart.md §3.3 step 15).
 */
function serveSoftnetControl(fd: number): void {
  const socket = new Socket({ fd, readable: true, writable: true });
  let buffered = '';
  socket.on('error', () => undefined);
  socket.on('data', (data: Buffer) => {
    buffered += data.toString('utf8');
    let newline: number;
    while ((newline = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line === '') {
        continue;
      }
      let reply: unknown;
      try {
        const request = JSON.parse(line) as {
          id?: unknown;
          method?: string;
          params?: { allow?: unknown; block?: unknown };
        };
        reply =
          request.method === 'softnet.policy.set'
            ? {
                jsonrpc: '2.0',
                id: request.id ?? null,
                result: { allow: request.params?.allow ?? [], block: request.params?.block ?? [] },
              }
            : { jsonrpc: '2.0', id: request.id ?? null, error: { code: -32601, message: 'Method not found' } };
      } catch {
        reply = { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } };
      }
      socket.write(`${JSON.stringify(reply)}\n`);
    }
  });
}

/**
 * The stand-in's addition, for tests: every accepted `run` appends `{"vm", "options"}` (option → values, a flag's
 * value being "") as one JSON line to `$TART_HOME/standin/runs.jsonl`, so a test can see which flags reached Tart.
 */
function recordRun(ctx: Context, name: string, args: ParsedArgs): void {
  const line = JSON.stringify({ vm: name, options: Object.fromEntries(args.options) });
  appendFileSync(join(ctx.home.standin, 'runs.jsonl'), `${line}\n`);
}

export const run: Command = {
  spec: {
    name: 'run',
    usage:
      '<name> [--no-graphics] [--serial] [--serial-path <serial-path>] [--no-audio] [--no-clipboard] [--recovery] [--vnc] [--vnc-experimental] [--disk <path[:options]> ...] [--rosetta <tag>] [--dir <[name:]path[:options]> ...] [--nested] [--net-bridged <interface name> ...] [--net-softnet] [--net-softnet-allow <comma-separated CIDRs>] [--net-softnet-block <comma-separated CIDRs>] [--net-softnet-expose <comma-separated port specifications>] [--net-softnet-control-fd <fd>] [--net-host] [--root-disk-opts <options>] [--suspendable] [--capture-system-keys] [--no-trackpad] [--no-pointer] [--no-keyboard] [--no-usb-accessories]',
    abstract: 'Run a VM',
    options: [
      ...[
        'no-graphics',
        'graphics',
        'serial',
        'no-audio',
        'no-clipboard',
        'recovery',
        'vnc',
        'vnc-experimental',
        'nested',
        'net-softnet',
        'net-host',
        'suspendable',
        'capture-system-keys',
        'no-trackpad',
        'no-pointer',
        'no-keyboard',
        // Newer than 2.35.0: detaches the emulated USB keyboard and pointing devices (Orchard's usbAccessories).
        'no-usb-accessories',
      ].map((long) => ({ long, kind: 'flag' as const })),
      ...[
        'serial-path',
        'rosetta',
        'net-softnet-allow',
        'net-softnet-block',
        'net-softnet-expose',
        'root-disk-opts',
      ].map((long) => ({ long, kind: 'value' as const })),
      { long: 'net-softnet-control-fd', kind: 'value', integer: true, valueName: 'fd' },
      ...['disk', 'dir', 'net-bridged'].map((long) => ({ long, kind: 'value' as const, repeatable: true })),
    ],
    positionals: [{ name: 'name' }],
  },
  ownsSigint: true,
  async run(ctx, args) {
    const { home, knobs } = ctx;
    const vm = home.vm(args.positionals[0]);
    // Signals are caught from the very start and replayed once the VM is up, so a `tart stop` that comes right after
    // `list` shows the lock can never hit the default action (which would kill the process without cleanup).
    const pending: HandledSignal[] = [];
    let onSignal: ((signal: HandledSignal) => void) | undefined;
    for (const signal of HANDLED_SIGNALS) {
      process.on(signal, () => (onSignal ? onSignal(signal) : pending.push(signal)));
    }
    const flags = validate(ctx, args, vm);
    recordRun(ctx, vm.name, args);
    vm.touch();
    const cwd = process.cwd();

    // Under the global lock: the MAC-collision check, the VM lock and (the stand-in's addition) the VM limit, so two
    // concurrent starts cannot both squeeze under it.
    await withLock(home.globalLock, () => {
      const config = vm.config();
      const clash = home
        .localVMs()
        .some((other) => other.name !== vm.name && other.running() && other.config().macAddress === config.macAddress);
      if (clash) {
        say('There is already a running VM with the same MAC address!');
        say('Resetting VM to assign a new MAC address...');
        config.macAddress = randomMac();
        vm.saveConfig(config);
        rmSync(vm.statePath, { force: true });
      }
      if (!tryLock(vm.lockPath, { bridged: flags.bridged })) {
        throw vmAlreadyRunning(vm.name);
      }
      // From here on `list` reports running. macOS guests count against Virtualization.framework's limit (tart.md §2).
      if (config.os === 'darwin') {
        const others = home
          .localVMs()
          .filter((o) => o.name !== vm.name && o.running() && o.config().os === 'darwin')
          .map((o) => o.name);
        if (others.length >= knobs.vmLimit) {
          unlock(vm.lockPath);
          const suffix = others.length > 0 ? ` (other running VMs: ${others.join(', ')})` : '';
          throw new TartRuntimeError(`The number of VMs exceeds the system limit${suffix}`);
        }
      }
    });

    if (knobs.startFailure !== undefined) {
      unlock(vm.lockPath);
      complain(knobs.startFailure);
      return 1;
    }
    if (flags.controlFd !== undefined) {
      serveSoftnetControl(flags.controlFd);
    }
    if (existsSync(vm.statePath)) {
      say('restoring VM state from a snapshot...');
      rmSync(vm.statePath, { force: true });
      say('resuming VM...');
    }

    const mac = vm.config().macAddress;
    let ip: string | undefined;
    let booted = false;
    const control = new ControlSocket({
      ip: () => ip,
      ready: () => booted,
      absent: knobs.agentAbsent,
      delayMs: knobs.agentDelayMs,
      cwd,
    });
    try {
      await control.start(vm.path);
    } catch (err) {
      // Tart 2.33–2.35.0 prints this and keeps the VM running (tart.md §1.2 `run`, lifecycle step 6).
      complain(`Failed to run control socket: ${(err as Error).message}`);
    }

    return new Promise<number>((resolve) => {
      const timers: NodeJS.Timeout[] = [];
      let done = false;
      const finish = (code: number, lines: string[] = []): void => {
        if (done) {
          return;
        }
        done = true;
        timers.forEach(clearTimeout);
        control.stop(true);
        unlock(vm.lockPath);
        lines.forEach(say);
        resolve(code);
      };

      timers.push(
        setTimeout(() => {
          booted = true;
          if (flags.softnet && knobs.softnetFailure) {
            control.stop(true);
            unlock(vm.lockPath);
            complain('RuntimeFailed(why: "Softnet process terminated prematurely")');
            done = true;
            resolve(1);
            return;
          }
          if (!knobs.noIp) {
            const lease = flags.bridged ? learnArp(home, mac) : grantLease(home, knobs, vm.name, mac);
            lease.then(
              (address) => (ip = address),
              (err: Error) => complain(`stand-in: failed to record the guest's address: ${err.message}`),
            );
          }
        }, knobs.bootDelayMs),
      );
      if (knobs.guestStopAfterMs !== undefined) {
        timers.push(setTimeout(() => finish(0, ['guest has stopped the virtual machine']), knobs.guestStopAfterMs));
      }

      const suspend = (): void => {
        const failure = !flags.suspendable ? DEFAULT_SUSPEND_FAILURE : knobs.suspendFailure;
        if (failure !== undefined) {
          finish(1, [`Failed to suspend the VM: ${failure}`]); // Tart prints this one to stdout
          return;
        }
        say('pausing VM to take a snapshot...');
        say('creating a snapshot...');
        writeFileSync(
          vm.statePath,
          Buffer.from(`grove tart stand-in snapshot of ${vm.name} (${new Date().toISOString()})\n`),
        );
        say('snapshot created successfully! shutting down the VM...');
        finish(0);
      };
      onSignal = (signal) => {
        if (done) {
          return;
        }
        switch (signal) {
          case 'SIGINT':
            finish(0, ['Stopping VM...']);
            break;
          case 'SIGUSR1':
            suspend();
            break;
          case 'SIGUSR2':
            say('Requesting guest OS to stop...');
            finish(0, ['guest has stopped the virtual machine']);
            break;
        }
      };
      pending.splice(0).forEach(onSignal);
      // SIGTERM and SIGHUP keep their default action: the process dies at once, leaving control.sock behind.
    });
  },
};
