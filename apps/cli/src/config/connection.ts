import { CliError } from '../cli.errors';
import { normalizeControllerUrl } from '../controller-url';
import type { Env, GroveConfig, GroveContext } from './config-file';

/** Everything needed to build an API client. */
export interface Connection {
  url: string;
  serviceAccountName?: string;
  serviceAccountToken?: string;
  certificatePem?: string;
  /** The context it came from, if any (for messages). */
  contextName?: string;
}

/** Looks a context up by name without falling into Object.prototype (`toString`, `constructor`…). */
export function findContext(config: GroveConfig, name: string): GroveContext | undefined {
  return Object.hasOwn(config.contexts, name) ? config.contexts[name] : undefined;
}

export function encodeCertificate(pem: string): string {
  return Buffer.from(pem, 'utf8').toString('base64');
}

export function decodeCertificate(base64: string): string {
  return Buffer.from(base64, 'base64').toString('utf8');
}

function envValue(env: Env, key: string): string | undefined {
  const value = env[key];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Picks the controller and credentials for a command:
 * - `--context NAME` uses exactly that context (environment overrides are ignored: the flag is more specific);
 * - otherwise the default context, with `GROVE_URL`, `GROVE_SERVICE_ACCOUNT_NAME` and `GROVE_SERVICE_ACCOUNT_TOKEN`
 *   overriding its fields (enough on their own when no context exists). A pinned certificate is kept only while
 *   the URL is the context's own.
 */
export function resolveConnection(config: GroveConfig, env: Env, contextName?: string): Connection {
  if (contextName !== undefined) {
    const ctx = findContext(config, contextName);
    if (!ctx) {
      const known = Object.keys(config.contexts).sort();
      const hint = known.length > 0 ? `known contexts: ${known.join(', ')}` : 'no context exists yet';
      throw new CliError(`context "${contextName}" does not exist (${hint})`);
    }
    return fromContext(contextName, ctx);
  }
  const name = config.defaultContext;
  const ctx = name !== undefined ? findContext(config, name) : undefined;
  const envUrl = envValue(env, 'GROVE_URL');
  if (!ctx && envUrl === undefined) {
    throw new CliError(
      'no context configured: run "grove context create <controller URL>" (or set GROVE_URL and the ' +
        'GROVE_SERVICE_ACCOUNT_NAME / GROVE_SERVICE_ACCOUNT_TOKEN variables)',
    );
  }
  const base: Connection = ctx && name !== undefined ? fromContext(name, ctx) : { url: '' };
  const url = envUrl !== undefined ? normalizeControllerUrl(envUrl) : base.url;
  const keepCertificate = base.certificatePem !== undefined && url === base.url;
  return {
    url,
    ...(base.contextName !== undefined ? { contextName: base.contextName } : {}),
    ...optional('serviceAccountName', envValue(env, 'GROVE_SERVICE_ACCOUNT_NAME') ?? base.serviceAccountName),
    ...optional('serviceAccountToken', envValue(env, 'GROVE_SERVICE_ACCOUNT_TOKEN') ?? base.serviceAccountToken),
    ...(keepCertificate ? { certificatePem: base.certificatePem } : {}),
  };
}

function fromContext(name: string, ctx: GroveContext): Connection {
  return {
    url: ctx.url,
    contextName: name,
    ...optional('serviceAccountName', ctx.serviceAccountName),
    ...optional('serviceAccountToken', ctx.serviceAccountToken),
    ...(ctx.certificate ? { certificatePem: decodeCertificate(ctx.certificate) } : {}),
  };
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}
