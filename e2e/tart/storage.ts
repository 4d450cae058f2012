import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { TartRuntimeError, vmDoesNotExist } from './errors';
import { lockHolder, processAlive, type LockRecord } from './locks';
import { type RemoteName, repository } from './names';

/** config.json (tart.md §2); written pretty-printed, the stand-in keeps unknown fields it finds. */
export interface VMConfig {
  version: number;
  os: 'darwin' | 'linux';
  arch: 'arm64' | 'amd64';
  cpuCountMin: number;
  cpuCount: number;
  memorySizeMin: number;
  memorySize: number;
  macAddress: string;
  display: { width: number; height: number; unit?: 'pt' | 'px' };
  displayRefit?: boolean;
  diskFormat: 'raw' | 'asif';
  ecid?: string;
  hardwareModel?: string;
}

export type VMState = 'running' | 'suspended' | 'stopped';

/** What the `run` process records in its lock file, for `ip --resolver arp` and the VM limit. */
export interface RunRecord extends LockRecord {
  bridged: boolean;
}

export const GB = 1_000_000_000;

/** `$TART_HOME` and its fixed subdirectories; created on every invocation (tart.md §2). */
export class TartHome {
  readonly vms: string;
  readonly ocis: string;
  readonly tmp: string;
  /** Stand-in bookkeeping (lease table, ARP table, locks) that real Tart keeps elsewhere on the host. */
  readonly standin: string;

  constructor(readonly root: string) {
    this.vms = join(root, 'vms');
    this.ocis = join(root, 'cache', 'OCIs');
    this.tmp = join(root, 'tmp');
    this.standin = join(root, 'standin');
  }

  init(): void {
    try {
      for (const dir of [this.root, this.vms, this.ocis, this.tmp, this.standin]) {
        mkdirSync(dir, { recursive: true });
      }
    } catch (err) {
      throw new TartRuntimeError(
        `TART_HOME is invalid: ${this.root} does not exist, yet we can't create it: ${(err as Error).message}`,
      );
    }
  }

  /** The global lock (Tart: flock on $TART_HOME) held around clone's move and run's MAC check + lock. */
  get globalLock(): string {
    return join(this.standin, 'global.lock');
  }

  vm(name: string): VMDir {
    return new VMDir(name, join(this.vms, name));
  }

  /** Local VMs, sorted by name; directories without all three files are skipped. */
  localVMs(): VMDir[] {
    return readdirSync(this.vms)
      .sort()
      .map((name) => this.vm(name))
      .filter((vm) => vm.exists());
  }

  /** A new temporary directory owned by this process (GC leaves it alone while we live). */
  newTmpDir(name = randomBytes(16).toString('hex')): string {
    const dir = join(this.tmp, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '.owner-pid'), String(process.pid));
    return dir;
  }

  /**
   * Deletes tmp entries whose owner is gone (Tart: entries whose flock is free). An entry without an owner file that
   * is less than a minute old is being made by another process (newTmpDir writes the file right after mkdir; Tart's
   * flock has no such gap) and is left alone.
   */
  collectGarbage(): void {
    for (const entry of readdirSync(this.tmp)) {
      const dir = join(this.tmp, entry);
      let owner = 0;
      try {
        owner = Number(readFileSync(join(dir, '.owner-pid'), 'utf8'));
      } catch {
        let ageMs: number;
        try {
          ageMs = Date.now() - statSync(dir).mtimeMs;
        } catch {
          continue;
        }
        if (ageMs < 60_000) {
          continue;
        }
      }
      if (!processAlive(owner)) {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }

  /** Directory of one repository in the OCI cache (`host:port` is stored as `host%3Aport`). */
  repositoryDir(remote: RemoteName): string {
    return join(this.ocis, remote.host.replace(/:/g, '%3A'), ...remote.namespace.split('/'));
  }

  /** The cache directory `remote` resolves to (through the tag symlink), if cached. */
  cachedImage(remote: RemoteName): { dir: string; digest: string } | undefined {
    const repoDir = this.repositoryDir(remote);
    let digest: string;
    if (remote.reference.kind === 'digest') {
      digest = remote.reference.digest;
    } else {
      try {
        digest = readlinkSync(join(repoDir, remote.reference.tag)).split('/').at(-1) ?? '';
      } catch {
        return undefined;
      }
    }
    const dir = join(repoDir, digest);
    return existsSync(join(dir, 'config.json')) ? { dir, digest } : undefined;
  }

  /** OCI cache entries: tag symlinks and digest directories, as `list` names them, sorted by name. */
  ociEntries(): { name: string; path: string; dir: VMDir }[] {
    const entries: { name: string; path: string; dir: VMDir }[] = [];
    const walk = (dir: string, parts: string[]): void => {
      for (const entry of readdirSync(dir)) {
        const path = join(dir, entry);
        const stat = lstatSync(path);
        const repo = parts.join('/').replace(/%3A/g, ':');
        if (entry.startsWith('sha256:') && stat.isDirectory()) {
          entries.push({ name: `${repo}@${entry}`, path, dir: new VMDir(`${repo}@${entry}`, path) });
        } else if (stat.isSymbolicLink()) {
          const target = join(dir, readlinkSync(path));
          entries.push({ name: `${repo}:${entry}`, path, dir: new VMDir(`${repo}:${entry}`, target) });
        } else if (stat.isDirectory()) {
          walk(path, [...parts, entry]);
        }
      }
    };
    walk(this.ocis, []);
    return entries.filter((e) => e.dir.exists()).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Removes digest directories no tag points at, unless pulled explicitly by digest (tart.md §2). */
  collectCacheGarbage(remote: RemoteName): void {
    const repoDir = this.repositoryDir(remote);
    if (!existsSync(repoDir)) {
      return;
    }
    const linked = new Set<string>();
    for (const entry of readdirSync(repoDir)) {
      if (lstatSync(join(repoDir, entry)).isSymbolicLink()) {
        linked.add(readlinkSync(join(repoDir, entry)).split('/').at(-1) ?? '');
      }
    }
    for (const entry of readdirSync(repoDir)) {
      const path = join(repoDir, entry);
      if (entry.startsWith('sha256:') && !linked.has(entry) && !existsSync(join(path, '.explicitly-pulled'))) {
        rmSync(path, { recursive: true, force: true });
      }
    }
  }

  /** Name of the cache entry for messages: `host/ns@sha256:…`. */
  static digestName(remote: RemoteName, digest: string): string {
    return `${repository(remote)}@${digest}`;
  }
}

/** One VM directory (local VM or OCI cache entry). */
export class VMDir {
  constructor(
    readonly name: string,
    readonly path: string,
  ) {}

  get configPath(): string {
    return join(this.path, 'config.json');
  }
  get diskPath(): string {
    return join(this.path, 'disk.img');
  }
  get nvramPath(): string {
    return join(this.path, 'nvram.bin');
  }
  get statePath(): string {
    return join(this.path, 'state.vzvmsave');
  }
  get controlSocketPath(): string {
    return join(this.path, 'control.sock');
  }
  /** The run lock: a PID file standing in for Tart's fcntl lock on config.json. */
  get lockPath(): string {
    return join(this.path, '.tart-run.lock');
  }

  exists(): boolean {
    return [this.configPath, this.diskPath, this.nvramPath].every((p) => existsSync(p));
  }

  /** Throws Tart's "does not exist" RuntimeError (exit 2) unless the VM exists. */
  require(): this {
    if (!existsSync(this.path)) {
      throw vmDoesNotExist(this.name);
    }
    if (!this.exists()) {
      throw new TartRuntimeError('VM is missing some of its files (config.json, disk.img or nvram.bin)');
    }
    return this;
  }

  config(): VMConfig {
    return JSON.parse(readFileSync(this.configPath, 'utf8')) as VMConfig;
  }

  saveConfig(config: VMConfig): void {
    writeFileSync(this.configPath, `${JSON.stringify(config, null, 2)}\n`);
  }

  runRecord(): RunRecord | undefined {
    return lockHolder(this.lockPath) as RunRecord | undefined;
  }

  running(): boolean {
    return this.runRecord() !== undefined;
  }

  state(): VMState {
    if (this.running()) {
      return 'running';
    }
    return existsSync(this.statePath) ? 'suspended' : 'stopped';
  }

  /** Marks the VM as just opened (Tart updates the access date whenever it opens a VM). */
  touch(): void {
    const now = new Date();
    utimesSync(this.diskPath, now, statSync(this.diskPath).mtime);
  }

  accessed(): Date {
    return statSync(this.diskPath).atime;
  }

  /** Sum of the apparent sizes of config, disk and nvram, in bytes. */
  sizeBytes(): number {
    return [this.configPath, this.diskPath, this.nvramPath].reduce((sum, p) => sum + statSync(p).size, 0);
  }

  /** Bytes actually allocated on disk (sparse disks take almost nothing). */
  allocatedBytes(): number {
    return [this.configPath, this.diskPath, this.nvramPath, this.statePath]
      .filter((p) => existsSync(p))
      .reduce((sum, p) => sum + statSync(p).blocks * 512, 0);
  }
}

/** Creates a sparse file of `size` bytes (a raw disk: holes until the guest writes). */
export function createSparseFile(path: string, size: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

/**
 * Copies a file keeping holes: all-zero 1 MiB blocks are skipped. A file with no allocated blocks is just truncated, so
 * cloning a 50 GB image costs nothing.
 */
export function copySparse(from: string, to: string): void {
  const stat = statSync(from);
  createSparseFile(to, stat.size);
  if (stat.blocks === 0) {
    return;
  }
  const src = openSync(from, 'r');
  const dst = openSync(to, 'r+');
  try {
    const buffer = Buffer.alloc(1 << 20);
    for (let offset = 0; offset < stat.size; offset += buffer.length) {
      const n = readSync(src, buffer, 0, buffer.length, offset);
      if (n <= 0) {
        break;
      }
      if (buffer.subarray(0, n).some((b) => b !== 0)) {
        writeSync(dst, buffer, 0, n, offset);
      }
    }
  } finally {
    closeSync(src);
    closeSync(dst);
  }
}
