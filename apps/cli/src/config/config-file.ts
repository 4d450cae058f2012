import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CliError } from '../cli.errors';
import { parseYaml, stringifyYaml } from '../yaml';
import { parsePlainYamlMapping } from './plain-yaml';

/** One controller the CLI knows, as stored in `config.yml`. */
export interface GroveContext {
  url: string;
  /** Base64 of the PEM of the pinned controller certificate; absent means system trust (or plain HTTP). */
  certificate?: string;
  serviceAccountName?: string;
  serviceAccountToken?: string;
}

/** `$GROVE_HOME/config.yml`: the same layout as Orchard's `orchard.yml` (orchard.md §7). */
export interface GroveConfig {
  defaultContext?: string;
  contexts: Record<string, GroveContext>;
}

export type Env = Record<string, string | undefined>;

/** Grove's home directory: `$GROVE_HOME`, else `~/.grove`. */
export function groveHome(env: Env): string {
  const home = env['GROVE_HOME'];
  return home ? resolve(home) : join(homedir(), '.grove');
}

export function configPath(env: Env): string {
  return join(groveHome(env), 'config.yml');
}

export function emptyConfig(): GroveConfig {
  return { contexts: {} };
}

/** Parses the YAML text of a config file, naming the file in every complaint. */
export function parseConfig(text: string, path: string): GroveConfig {
  let raw: unknown;
  try {
    // The fast path reads what `grove` itself writes; anything else goes to the YAML library.
    raw = parsePlainYamlMapping(text) ?? parseYaml(text);
  } catch (err) {
    throw new CliError(`cannot parse ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (raw === null || raw === undefined) {
    return emptyConfig();
  }
  if (!isRecord(raw)) {
    throw new CliError(`cannot parse ${path}: expected a mapping with "default-context" and "contexts"`);
  }
  const contexts: Record<string, GroveContext> = {};
  const rawContexts = raw['contexts'] ?? {};
  if (!isRecord(rawContexts)) {
    throw new CliError(`cannot parse ${path}: "contexts" must be a mapping of context names`);
  }
  for (const [name, value] of Object.entries(rawContexts)) {
    if (!isRecord(value) || typeof value['url'] !== 'string' || value['url'] === '') {
      throw new CliError(`cannot parse ${path}: context "${name}" has no "url"`);
    }
    contexts[name] = {
      url: value['url'],
      ...optionalString(value, 'certificate', name, path),
      ...optionalString(value, 'serviceAccountName', name, path),
      ...optionalString(value, 'serviceAccountToken', name, path),
    };
  }
  const defaultContext = raw['default-context'];
  if (defaultContext !== undefined && defaultContext !== null && typeof defaultContext !== 'string') {
    throw new CliError(`cannot parse ${path}: "default-context" must be a context name`);
  }
  return { contexts, ...(defaultContext ? { defaultContext } : {}) };
}

function optionalString(
  value: Record<string, unknown>,
  key: keyof GroveContext,
  name: string,
  path: string,
): Partial<GroveContext> {
  const field = value[key];
  if (field === undefined || field === null || field === '') {
    return {};
  }
  if (typeof field !== 'string') {
    throw new CliError(`cannot parse ${path}: "${key}" of context "${name}" must be a string`);
  }
  return { [key]: field };
}

export function serializeConfig(config: GroveConfig): string {
  const contexts: Record<string, Record<string, string>> = {};
  for (const name of Object.keys(config.contexts).sort()) {
    const ctx = config.contexts[name];
    contexts[name] = {
      url: ctx.url,
      ...(ctx.certificate ? { certificate: ctx.certificate } : {}),
      ...(ctx.serviceAccountName !== undefined ? { serviceAccountName: ctx.serviceAccountName } : {}),
      ...(ctx.serviceAccountToken !== undefined ? { serviceAccountToken: ctx.serviceAccountToken } : {}),
    };
  }
  return stringifyYaml({ ...(config.defaultContext ? { 'default-context': config.defaultContext } : {}), contexts });
}

/** Reads the config file; a missing file is an empty configuration. */
export function loadConfig(path: string): GroveConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return emptyConfig();
    }
    throw new CliError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(text, path);
}

/**
 * Writes the config file atomically (a temporary file in the same directory, then rename), readable only by the
 * user (0600) in a directory only the user can enter (0700), because it holds tokens.
 */
export function saveConfig(path: string, config: GroveConfig): void {
  const dir = dirname(path);
  const tmp = join(dir, `.config.yml.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, serializeConfig(config));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new CliError(`cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
