import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flag, intValue, value } from './args';
import type { Command } from './context';
import { ForeignError, TartRuntimeError, UsageError, vmDoesNotExist } from './errors';
import { formatRemoteName, parseRemoteName, randomMac } from './names';
import { say } from './output';
import { notADigest } from './registry';
import { GB, TartHome, type VMConfig, type VMDir, createSparseFile } from './storage';

/** Apple's JSONEncoder prettyPrinted style: `"Key" : value` with two-space indentation. */
export function appleJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/^(\s*"(?:[^"\\]|\\.)*"):/gm, '$1 :');
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]))
        .join(' ')
        .trimEnd(),
    )
    .join('\n');
}

function ago(date: Date): string {
  const seconds = Math.max(0, Math.round((Date.now() - date.getTime()) / 1000));
  const units: [number, string][] = [
    [86_400, 'day'],
    [3_600, 'hour'],
    [60, 'minute'],
    [1, 'second'],
  ];
  for (const [size, unit] of units) {
    if (seconds >= size) {
      const n = Math.floor(seconds / size);
      return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
    }
  }
  return 'just now';
}

function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export const list: Command = {
  spec: {
    name: 'list',
    usage: '[--source <source>] [--format <format>] [--quiet]',
    abstract: 'List created VMs',
    options: [
      { long: 'source', kind: 'value', choices: ['local', 'oci'] },
      { long: 'format', kind: 'value', choices: ['text', 'json'] },
      { long: 'quiet', short: 'q', kind: 'flag' },
    ],
    positionals: [],
  },
  run({ home }, args) {
    const source = value(args, 'source');
    const entries: { Source: string; Name: string; dir: VMDir }[] = [];
    if (source !== 'oci') {
      entries.push(...home.localVMs().map((dir) => ({ Source: 'local', Name: dir.name, dir })));
    }
    if (source !== 'local') {
      entries.push(...home.ociEntries().map((e) => ({ Source: 'OCI', Name: e.name, dir: e.dir })));
    }
    const rows = entries.map(({ Source, Name, dir }) => {
      const state = Source === 'local' ? dir.state() : 'stopped';
      return {
        Source,
        Name,
        Disk: Math.floor(dir.sizeBytes() / GB),
        Size: Math.floor(dir.allocatedBytes() / GB),
        Accessed: dir.accessed(),
        Running: state === 'running',
        State: state,
      };
    });
    if (flag(args, 'quiet')) {
      rows.forEach((r) => say(r.Name));
    } else if (value(args, 'format') === 'json') {
      say(appleJson(rows.map((r) => ({ ...r, Accessed: isoSeconds(r.Accessed) }))));
    } else {
      const header = ['Source', 'Name', 'Disk', 'Size', 'Accessed', 'State'];
      say(table([header, ...rows.map((r) => [r.Source, r.Name, `${r.Disk}`, `${r.Size}`, ago(r.Accessed), r.State])]));
    }
    return Promise.resolve(0);
  },
};

function displayText(config: VMConfig): string {
  return `${config.display.width}x${config.display.height}${config.display.unit ?? ''}`;
}

export const get: Command = {
  spec: {
    name: 'get',
    usage: '<name> [--format <format>]',
    abstract: "Get a VM's configuration",
    options: [{ long: 'format', kind: 'value', choices: ['text', 'json'] }],
    positionals: [{ name: 'name' }],
  },
  run({ home }, args) {
    const vm = home.vm(args.positionals[0]).require();
    vm.touch();
    const config = vm.config();
    const state = vm.state();
    const info = {
      OS: config.os,
      CPU: config.cpuCount,
      Memory: Math.floor(config.memorySize / 1024 / 1024),
      Disk: Math.floor(vm.sizeBytes() / GB),
      DiskFormat: config.diskFormat ?? 'raw',
      Size: (vm.allocatedBytes() / GB).toFixed(3),
      Display: displayText(config),
      Running: state === 'running',
      State: state,
    };
    if (value(args, 'format') === 'json') {
      say(appleJson(info));
    } else {
      const { Running: _running, ...columns } = info;
      say(table([Object.keys(columns), Object.values(columns).map(String)]));
    }
    return Promise.resolve(0);
  },
};

/** Virtualization.framework's floors for every VM (tart.md §1.2 `set`). */
const MIN_CPU = 1;
const MIN_MEMORY = 128 * 1024 * 1024;

function lessThanMinimal(explanation: string): ForeignError {
  return new ForeignError(`LessThanMinimalResourcesError(userExplanation: "${explanation}")`);
}

/** Swift's ByteCountFormatter (file style) for whole-GB disks: `50 GB`. */
function bytesText(bytes: number): string {
  const gb = bytes / GB;
  return `${Number.isInteger(gb) ? gb : gb.toFixed(2)} GB`;
}

export const set: Command = {
  spec: {
    name: 'set',
    usage:
      '<name> [--cpu <cpu>] [--memory <memory>] [--display <display>] [--display-refit] [--no-display-refit] [--random-mac] [--random-serial] [--disk <path>] [--disk-size <disk-size>]',
    abstract: "Modify VM's configuration",
    options: [
      { long: 'cpu', kind: 'value', integer: true },
      { long: 'memory', kind: 'value', integer: true },
      { long: 'display', kind: 'value' },
      { long: 'display-refit', kind: 'flag' },
      { long: 'no-display-refit', kind: 'flag' },
      { long: 'random-mac', kind: 'flag' },
      { long: 'random-serial', kind: 'flag' },
      { long: 'disk', kind: 'value', valueName: 'path' },
      { long: 'disk-size', kind: 'value', integer: true },
    ],
    positionals: [{ name: 'name' }],
  },
  run({ home }, args) {
    const vm = home.vm(args.positionals[0]).require();
    vm.touch();
    const config = vm.config();
    const cpu = intValue(args, 'cpu');
    if (cpu !== undefined) {
      const min = config.os === 'darwin' ? Math.max(config.cpuCountMin, MIN_CPU) : MIN_CPU;
      if (cpu < min) {
        throw lessThanMinimal(`VM should have ${min} CPU cores at minimum (requested ${cpu})`);
      }
      config.cpuCount = cpu;
    }
    const memoryMiB = intValue(args, 'memory');
    if (memoryMiB !== undefined) {
      const bytes = memoryMiB * 1024 * 1024;
      const min = config.os === 'darwin' ? Math.max(config.memorySizeMin, MIN_MEMORY) : MIN_MEMORY;
      if (bytes < min) {
        throw lessThanMinimal(`VM should have ${min} bytes of memory at minimum (requested ${bytes})`);
      }
      config.memorySize = bytes;
    }
    const display = value(args, 'display');
    if (display !== undefined) {
      const match = /^(\d*)x(\d*)(pt|px)?$/.exec(display);
      if (!match) {
        throw new UsageError(`The value '${display}' is invalid for '--display <display>'`);
      }
      const [, width, height, unit] = match;
      config.display = {
        width: Number(width) > 0 ? Number(width) : config.display.width,
        height: Number(height) > 0 ? Number(height) : config.display.height,
        ...(unit ? { unit: unit as 'pt' | 'px' } : {}),
      };
    }
    // Quirk kept from Tart: a `set` without either refit flag resets displayRefit to unset.
    delete config.displayRefit;
    if (flag(args, 'display-refit')) {
      config.displayRefit = true;
    } else if (flag(args, 'no-display-refit')) {
      config.displayRefit = false;
    }
    if (flag(args, 'random-mac')) {
      config.macAddress = randomMac();
    }
    if (flag(args, 'random-serial') && config.os === 'darwin') {
      config.ecid = randomBytes(8).toString('base64');
    }
    vm.saveConfig(config);

    const disk = value(args, 'disk');
    if (disk !== undefined) {
      const tmp = `${vm.diskPath}.${process.pid}`;
      copyFileSync(disk, tmp);
      renameSync(tmp, vm.diskPath);
    }
    const diskSize = intValue(args, 'disk-size');
    if (diskSize !== undefined) {
      const current = lstatSync(vm.diskPath).size;
      const wanted = diskSize * GB;
      if (wanted < current) {
        throw new TartRuntimeError(
          `new disk size of ${bytesText(wanted)} should be larger than the current disk size of ${bytesText(current)}`,
        );
      }
      if (wanted > current) {
        truncateSync(vm.diskPath, wanted); // growing only adds a hole, like Tart's resize of a raw disk
      }
    }
    return Promise.resolve(0);
  },
};

export const del: Command = {
  spec: {
    name: 'delete',
    usage: '<name> ...',
    abstract: 'Delete a VM',
    options: [],
    positionals: [{ name: 'name', variadic: true }],
  },
  run({ home }, args) {
    for (const name of args.positionals) {
      const remote = parseRemoteName(name);
      if (remote) {
        const path =
          remote.reference.kind === 'tag'
            ? join(home.repositoryDir(remote), remote.reference.tag)
            : join(home.repositoryDir(remote), remote.reference.digest);
        if (!existsSync(path)) {
          throw vmDoesNotExist(name);
        }
        rmSync(path, { recursive: true, force: true });
        home.collectCacheGarbage(remote);
        continue;
      }
      const vm = home.vm(name);
      if (!existsSync(vm.path)) {
        throw vmDoesNotExist(name);
      }
      if (vm.running()) {
        throw new TartRuntimeError(`VM "${name}" is running`);
      }
      rmSync(vm.path, { recursive: true, force: true });
    }
    return Promise.resolve(0);
  },
};

export const fqn: Command = {
  spec: {
    name: 'fqn',
    usage: '<name>',
    abstract: 'Get a fully-qualified VM name',
    options: [],
    positionals: [{ name: 'name' }],
  },
  run({ home }, args) {
    const name = args.positionals[0];
    const remote = parseRemoteName(name);
    if (!remote) {
      say(name);
      return Promise.resolve(0);
    }
    const cached = home.cachedImage(remote);
    if (!cached) {
      throw notADigest(formatRemoteName(remote));
    }
    say(TartHome.digestName(remote, cached.digest));
    return Promise.resolve(0);
  },
};

export const create: Command = {
  spec: {
    name: 'create',
    usage: '<name> [--from-ipsw <from-ipsw>] [--linux] [--disk-size <disk-size>] [--disk-format <disk-format>]',
    abstract: 'Create a VM',
    options: [
      { long: 'from-ipsw', kind: 'value' },
      { long: 'linux', kind: 'flag' },
      { long: 'disk-size', kind: 'value', integer: true },
      { long: 'disk-format', kind: 'value', choices: ['raw', 'asif'] },
    ],
    positionals: [{ name: 'name' }],
  },
  run({ home }, args) {
    const name = args.positionals[0];
    const linux = flag(args, 'linux');
    if (linux === (value(args, 'from-ipsw') !== undefined)) {
      throw new UsageError('Please specify either a --from-ipsw or --linux option!');
    }
    // macOS "installation" is instant here: a darwin config with Tart's defaults (4 CPUs, 8 GiB minimums).
    const os = linux ? 'linux' : 'darwin';
    const memory = (linux ? 4096 : 8192) * 1024 * 1024;
    const tmp = home.newTmpDir();
    const config: VMConfig = {
      version: 1,
      os,
      arch: 'arm64',
      cpuCountMin: linux ? 1 : 4,
      cpuCount: 4,
      memorySizeMin: linux ? MIN_MEMORY : memory,
      memorySize: memory,
      macAddress: randomMac(),
      display: { width: 1024, height: 768 },
      diskFormat: (value(args, 'disk-format') as 'raw' | 'asif' | undefined) ?? 'raw',
      ...(linux
        ? {}
        : { ecid: randomBytes(8).toString('base64'), hardwareModel: Buffer.from('grove-stand-in').toString('base64') }),
    };
    writeFileSync(join(tmp, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    createSparseFile(join(tmp, 'disk.img'), (intValue(args, 'disk-size') ?? 50) * GB);
    writeFileSync(join(tmp, 'nvram.bin'), Buffer.alloc(128 * 1024));
    const vm = home.vm(name);
    rmSync(vm.path, { recursive: true, force: true });
    renameSync(tmp, vm.path);
    rmSync(join(vm.path, '.owner-pid'));
    vm.touch();
    return Promise.resolve(0);
  },
};

export const rename: Command = {
  spec: {
    name: 'rename',
    usage: '<name> <new-name>',
    abstract: 'Rename a local VM',
    options: [],
    positionals: [{ name: 'name' }, { name: 'new-name' }],
  },
  run({ home }, args) {
    const [name, newName] = args.positionals;
    if (newName.includes('/')) {
      throw new UsageError('<new-name> should be a local name');
    }
    const from = home.vm(name);
    if (!from.exists()) {
      throw new UsageError(`failed to rename a non-existent local VM: ${name}`);
    }
    const to = home.vm(newName);
    if (existsSync(to.path)) {
      throw new UsageError(`failed to rename VM ${name}, target VM ${newName} already exists, delete it first!`);
    }
    renameSync(from.path, to.path);
    return Promise.resolve(0);
  },
};
