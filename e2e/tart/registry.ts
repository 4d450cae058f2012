import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { ForeignError, TartRuntimeError } from './errors';
import type { Knobs } from './knobs';
import { withLock } from './locks';
import { type RemoteName, formatRemoteName, parseRemoteName, randomMac, repository } from './names';
import { Progress, say, sleep } from './output';
import { GB, type TartHome, type VMConfig, createSparseFile } from './storage';

/**
 * The fake registry. Its catalogue maps `host/namespace:tag` to an image description; it comes from
 * TART_STANDIN_REGISTRY (a JSON file path, or the JSON itself) or, without it, from BUILT_IN_CATALOGUE.
 *
 * ```json
 * { "images": { "registry.grove.test/acme/macos:latest": { "os": "darwin", "diskGB": 50, "failure": "404" } } }
 * ```
 */
export interface CatalogueImage {
  os?: 'darwin' | 'linux';
  cpu?: number;
  memoryMiB?: number;
  diskGB?: number;
  /** Defaults to a MAC derived from the name, so every pull of one image yields the same MAC (as a real image). */
  macAddress?: string;
  /** Shown as `pulling disk (X GB compressed)...`; defaults to half the disk. */
  compressedGB?: number;
  /** `sha256:<64 hex>`; defaults to a hash of the name and description. */
  digest?: string;
  /** Per-image fault: fail this image's pulls like TART_STANDIN_PULL_FAILURE does. */
  failure?: '401' | '403' | '404' | 'network';
}

interface Catalogue {
  images: Record<string, CatalogueImage>;
}

/** Images available without a catalogue (a fictitious host: the stand-in never talks to a real registry). */
export const BUILT_IN_CATALOGUE: Catalogue = {
  images: {
    'registry.grove.test/cirruslabs/macos-tahoe-base:latest': { os: 'darwin', cpu: 4, memoryMiB: 8192, diskGB: 50 },
    'registry.grove.test/cirruslabs/macos-sequoia-base:latest': { os: 'darwin', cpu: 4, memoryMiB: 8192, diskGB: 50 },
    'registry.grove.test/cirruslabs/ubuntu:latest': { os: 'linux', cpu: 4, memoryMiB: 4096, diskGB: 20 },
  },
};

function loadCatalogue(knobs: Knobs): Catalogue {
  if (knobs.registry === undefined) {
    return BUILT_IN_CATALOGUE;
  }
  const text = knobs.registry.trimStart().startsWith('{') ? knobs.registry : readFileSync(knobs.registry, 'utf8');
  const catalogue = JSON.parse(text) as Partial<Catalogue>;
  return { images: catalogue.images ?? {} };
}

interface ResolvedImage {
  image: CatalogueImage;
  digest: string;
  /** The catalogue key (repository:tag). */
  key: string;
}

function digestOf(key: string, image: CatalogueImage): string {
  return (
    image.digest ??
    `sha256:${createHash('sha256')
      .update(JSON.stringify([key, image]))
      .digest('hex')}`
  );
}

function resolveImage(catalogue: Catalogue, remote: RemoteName): ResolvedImage | undefined {
  for (const [key, image] of Object.entries(catalogue.images)) {
    const candidate = parseRemoteName(key);
    if (!candidate || repository(candidate) !== repository(remote)) {
      continue;
    }
    const digest = digestOf(key, image);
    const matches =
      remote.reference.kind === 'digest'
        ? remote.reference.digest === digest
        : candidate.reference.kind === 'tag' && candidate.reference.tag === remote.reference.tag;
    if (matches) {
      return { image, digest, key };
    }
  }
  return undefined;
}

function httpError(code: 401 | 403 | 404, remote: RemoteName): ForeignError {
  if (code === 404) {
    return new ForeignError(
      `UnexpectedHTTPStatusCode(when: "pulling manifest", code: 404, details: "{\\"errors\\":[{\\"code\\":\\"MANIFEST_UNKNOWN\\",\\"message\\":\\"manifest unknown\\",\\"detail\\":\\"${formatRemoteName(remote)}\\"}]}")`,
    );
  }
  return new ForeignError(
    `AuthFailed(why: "received unexpected HTTP status code ${code} while retrieving an authentication token", details: "")`,
  );
}

/** A URLError: the only kind Tart retries. */
class NetworkError extends Error {}

function imageConfig(key: string, image: CatalogueImage): VMConfig {
  const os = image.os ?? 'linux';
  const memory = (image.memoryMiB ?? (os === 'darwin' ? 8192 : 4096)) * 1024 * 1024;
  const cpu = image.cpu ?? 4;
  const derivedMac = createHash('md5').update(key).digest();
  derivedMac[0] = (derivedMac[0] & 0xfe) | 0x02;
  const config: VMConfig = {
    version: 1,
    os,
    arch: 'arm64',
    cpuCountMin: os === 'darwin' ? cpu : 1,
    cpuCount: cpu,
    memorySizeMin: os === 'darwin' ? memory : 128 * 1024 * 1024,
    memorySize: memory,
    macAddress:
      image.macAddress ??
      (Array.from(derivedMac.subarray(0, 6))
        .map((b) => b.toString(16).padStart(2, '0'))
        .join(':') ||
        randomMac()),
    display: { width: 1024, height: 768 },
    diskFormat: 'raw',
  };
  if (os === 'darwin') {
    config.ecid = createHash('sha256').update(`ecid:${key}`).digest('base64');
    config.hardwareModel = Buffer.from('grove-stand-in-hardware-model').toString('base64');
  }
  return config;
}

const MAX_ATTEMPTS = 5;

/**
 * `tart pull` without the local-name check: the per-host lock (`waiting for lock...`), up to 5 attempts for network
 * errors (`Error pulling image: "<msg>", attempting to re-try...`), HTTP errors not retried, then the cache layout of
 * tart.md §2. Cleanups registered in `tmpDirs` let SIGINT remove the download directory.
 */
export async function pullImage(home: TartHome, knobs: Knobs, remote: RemoteName, tmpDirs: Set<string>): Promise<void> {
  const catalogue = loadCatalogue(knobs);
  const lock = join(home.standin, `pull-${remote.host.replace(/[^A-Za-z0-9.-]/g, '_')}.lock`);
  await withLock(
    lock,
    () => pullLocked(home, knobs, remote, catalogue, tmpDirs),
    () => say('waiting for lock...'),
  );
}

async function pullLocked(
  home: TartHome,
  knobs: Knobs,
  remote: RemoteName,
  catalogue: Catalogue,
  tmpDirs: Set<string>,
): Promise<void> {
  let failuresLeft = knobs.pullFailure?.kind === 'network' ? knobs.pullFailure.attempts : 0;
  for (let attempt = 1; ; attempt++) {
    try {
      say('pulling manifest...');
      const resolved = resolveImage(catalogue, remote);
      const failure =
        knobs.pullFailure ?? (resolved?.image.failure ? parseImageFailure(resolved.image.failure) : undefined);
      if (failure?.kind === 'network' && (failuresLeft > 0 || knobs.pullFailure === undefined)) {
        failuresLeft--;
        throw new NetworkError('The request timed out.');
      }
      if (failure?.kind === 'http') {
        throw httpError(failure.code, remote);
      }
      if (!resolved) {
        throw httpError(404, remote);
      }
      await download(home, knobs, remote, resolved, tmpDirs);
      return;
    } catch (err) {
      if (err instanceof NetworkError && attempt < MAX_ATTEMPTS) {
        say(`Error pulling image: "${err.message}", attempting to re-try...`);
        continue;
      }
      if (err instanceof NetworkError) {
        throw new ForeignError(err.message);
      }
      throw err;
    }
  }
}

function parseImageFailure(failure: NonNullable<CatalogueImage['failure']>): Knobs['pullFailure'] {
  return failure === 'network'
    ? { kind: 'network', attempts: Infinity }
    : { kind: 'http', code: Number(failure) as 401 };
}

async function download(
  home: TartHome,
  knobs: Knobs,
  remote: RemoteName,
  { image, digest, key }: ResolvedImage,
  tmpDirs: Set<string>,
): Promise<void> {
  const repoDir = home.repositoryDir(remote);
  const finalDir = join(repoDir, digest);
  const tagLink = remote.reference.kind === 'tag' ? join(repoDir, remote.reference.tag) : undefined;
  const cached = home.cachedImage(remote);
  if (cached && cached.digest === digest) {
    say(`${repository(remote)}@${digest} image is already cached and linked!`);
    return;
  }

  if (!existsSync(join(finalDir, 'config.json'))) {
    // A directory of this pull's own: two clones of one uncached image pull it at the same time (Tart makes the second
    // wait on the first's lock; here the second to finish keeps the first's copy).
    const tmp = home.newTmpDir();
    tmpDirs.add(tmp);
    const diskGB = image.diskGB ?? 50;
    const compressed = image.compressedGB ?? diskGB / 2;
    writeFileSync(join(tmp, 'config.json'), `${JSON.stringify(imageConfig(key, image), null, 2)}\n`);
    say(`pulling disk (${compressed.toFixed(1)} GB compressed)...`);
    const progress = new Progress(knobs.ci);
    for (let pct = 0; pct <= 100; pct += 10) {
      progress.percent(pct);
      if (pct < 100 && knobs.pullDelayMs > 0) {
        await sleep(knobs.pullDelayMs / 10);
      }
    }
    progress.done();
    createSparseFile(join(tmp, 'disk.img'), diskGB * GB);
    say('pulling NVRAM...');
    writeFileSync(join(tmp, 'nvram.bin'), Buffer.alloc(128 * 1024));
    writeFileSync(
      join(tmp, 'manifest.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', name: key, digest }),
    );
    mkdirSync(repoDir, { recursive: true });
    if (existsSync(join(finalDir, 'config.json'))) {
      rmSync(tmp, { recursive: true, force: true });
    } else {
      rmSync(finalDir, { recursive: true, force: true });
      try {
        renameSync(tmp, finalDir);
      } catch (err) {
        // Another pull of the same image put its copy there between the check and the rename.
        if (!existsSync(join(finalDir, 'config.json'))) {
          throw err;
        }
        rmSync(tmp, { recursive: true, force: true });
      }
      rmSync(join(finalDir, '.owner-pid'), { force: true });
    }
    tmpDirs.delete(tmp);
  }
  if (remote.reference.kind === 'digest') {
    writeFileSync(join(finalDir, '.explicitly-pulled'), '');
  }
  if (tagLink) {
    try {
      unlinkSync(tagLink);
    } catch {
      // no previous link
    }
    symlinkSync(digest, tagLink);
    home.collectCacheGarbage(remote);
  }
}

/** For `clone` and `fqn`: a remote name that is not a pullable image fails like Tart's storage does. */
export function notADigest(name: string): TartRuntimeError {
  return new TartRuntimeError(`OCI storage error: ${name} is not a digest and doesn't point to a digest`);
}
