import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { intValue } from './args';
import type { Command } from './context';
import { ForeignError, UsageError, vmDoesNotExist } from './errors';
import { parseRemoteName, randomMac, requireRemoteName } from './names';
import { say, sleep } from './output';
import { pullImage } from './registry';
import { VMDir, copySparse } from './storage';
import { withLock } from './locks';

const PULL_OPTIONS = [
  { long: 'insecure', kind: 'flag' },
  { long: 'concurrency', kind: 'value', integer: true },
  { long: 'deduplicate', kind: 'flag' },
] as const;

function checkConcurrency(concurrency: number | undefined): void {
  if (concurrency !== undefined && concurrency < 1) {
    throw new UsageError('network concurrency cannot be less than 1');
  }
}

export const pull: Command = {
  spec: {
    name: 'pull',
    usage: '<remote-name> [--insecure] [--concurrency <concurrency>]',
    abstract: 'Pull a VM from a registry',
    options: PULL_OPTIONS,
    positionals: [{ name: 'remote-name' }],
  },
  skipGc: true,
  async run(ctx, args) {
    checkConcurrency(intValue(args, 'concurrency'));
    const name = args.positionals[0];
    if (ctx.home.vm(name).exists()) {
      say(`"${name}" is a local image, nothing to pull here!`);
      return 0;
    }
    await pullImage(ctx.home, ctx.knobs, requireRemoteName(name), ctx.tmpDirs);
    return 0;
  },
};

export const clone: Command = {
  spec: {
    name: 'clone',
    usage: '<source-name> <new-name> [--insecure] [--concurrency <concurrency>] [--prune-limit <n>]',
    abstract: 'Clone a VM',
    options: [
      ...PULL_OPTIONS,
      { long: 'prune-limit', kind: 'value', integer: true },
      { long: 'stacked', kind: 'flag' },
    ],
    positionals: [{ name: 'source-name' }, { name: 'new-name' }],
  },
  skipGc: true,
  async run(ctx, args) {
    const { home, knobs } = ctx;
    const [sourceName, newName] = args.positionals;
    if (newName.includes('/')) {
      throw new UsageError('<new-name> should be a local name');
    }
    checkConcurrency(intValue(args, 'concurrency'));

    let source: VMDir;
    const remote = parseRemoteName(sourceName);
    if (remote) {
      if (!home.cachedImage(remote)) {
        await pullImage(home, knobs, remote, ctx.tmpDirs);
      }
      const cached = home.cachedImage(remote);
      if (!cached) {
        throw vmDoesNotExist(sourceName);
      }
      source = new VMDir(sourceName, cached.dir);
    } else {
      source = home.vm(sourceName).require();
    }

    const tmp = home.newTmpDir();
    ctx.tmpDirs.add(tmp);
    if (knobs.cloneDiskFull) {
      throw new ForeignError(
        `Error Domain=NSCocoaErrorDomain Code=640 "You can't save the file "disk.img" because the volume is out of space." UserInfo={NSUnderlyingError=0x0 {Error Domain=NSPOSIXErrorDomain Code=28 "No space left on device"}}`,
      );
    }
    if (knobs.cloneDelayMs > 0) {
      await sleep(knobs.cloneDelayMs);
    }
    const suspended = existsSync(source.statePath);
    for (const file of ['config.json', 'nvram.bin', 'disk.img', 'state.vzvmsave']) {
      if (existsSync(join(source.path, file))) {
        copySparse(join(source.path, file), join(tmp, file));
      }
    }

    await withLock(home.globalLock, () => {
      const staged = new VMDir(newName, tmp);
      const config = staged.config();
      // A new MAC only if another local VM already uses this one and the source is not suspended (tart.md §1.2).
      const clash = home
        .localVMs()
        .some((vm) => vm.name !== newName && vm.config().macAddress.toLowerCase() === config.macAddress.toLowerCase());
      if (clash && !suspended) {
        config.macAddress = randomMac();
        writeFileSync(staged.configPath, `${JSON.stringify(config, null, 2)}\n`);
      }
      const target = home.vm(newName);
      rmSync(target.path, { recursive: true, force: true }); // an existing target is silently replaced
      renameSync(tmp, target.path);
      ctx.tmpDirs.delete(tmp);
      rmSync(join(target.path, '.owner-pid'));
      target.touch();
    });
    return 0;
  },
};
