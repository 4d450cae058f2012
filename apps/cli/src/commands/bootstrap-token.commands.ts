import { randomBytes } from 'node:crypto';
import { ApiError, GroveClient } from '@grove/client';
import { encodeBootstrapToken } from '@grove/resources';
import { CliError, UsageError } from '../cli.errors';
import { configPath, loadConfig } from '../config/config-file';
import { resolveConnection, type Connection } from '../config/connection';
import { cliVersion } from '../version';
import type { CommandIo, GlobalOptions } from './io';

export interface BootstrapTokenOptions extends GlobalOptions {
  /** The service account's token, checked against the controller before use. */
  token?: string;
  /** Replace the account's token with a new random one. */
  rotate?: boolean;
}

/** A fresh token as strong as the controller's own: 32 random bytes, base64url. */
export function generateServiceAccountToken(): string {
  return randomBytes(32).toString('base64url');
}

function client(connection: Connection, credentials?: { name: string; token: string }): GroveClient {
  return new GroveClient({
    url: connection.url,
    ...(connection.certificatePem !== undefined ? { certificatePem: connection.certificatePem } : {}),
    ...(credentials
      ? { serviceAccountName: credentials.name, serviceAccountToken: credentials.token }
      : {
          ...(connection.serviceAccountName !== undefined ? { serviceAccountName: connection.serviceAccountName } : {}),
          ...(connection.serviceAccountToken !== undefined
            ? { serviceAccountToken: connection.serviceAccountToken }
            : {}),
        }),
    userAgent: `Grove/${cliVersion()}`,
  });
}

/** `GET /v1/controller/info` as the account: any valid credentials pass, whatever their roles. */
async function checkToken(connection: Connection, name: string, token: string): Promise<void> {
  const probe = client(connection, { name, token });
  try {
    await probe.controllerInfo();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      throw new CliError(
        `the controller at ${connection.url} does not accept this token for service account "${name}" ` +
          `(${err.userMessage}); check --token, or use --rotate to give the account a new one`,
        { cause: err },
      );
    }
    throw err;
  } finally {
    probe.close();
  }
}

/** Sets a new random token on the account, keeping its roles. */
async function rotateToken(io: CommandIo, connection: Connection, name: string): Promise<string> {
  const admin = client(connection);
  try {
    const account = await admin.serviceAccounts.get(name);
    const token = generateServiceAccountToken();
    await admin.serviceAccounts.update(name, { name, roles: account.roles, token });
    io.err(
      `Warning: service account "${name}" has a new token; workers and clients still using the old one can no ` +
        'longer authenticate until they get this bootstrap token.\n',
    );
    return token;
  } finally {
    admin.close();
  }
}

/**
 * `grove get bootstrap-token NAME`. Orchard reads the account's token back from the controller; Grove stores tokens
 * hashed (orchard.md §7 differs here), so the token comes from `--token`, from the current context when it is that
 * account, or from a rotation (`--rotate`). The context's pinned certificate is embedded, so that a worker trusts the
 * same controller the CLI does. Prints only the token.
 */
export async function getBootstrapToken(io: CommandIo, name: string, options: BootstrapTokenOptions): Promise<void> {
  if (options.token !== undefined && options.rotate) {
    throw new UsageError('--token and --rotate cannot be combined');
  }
  if (options.token !== undefined && options.token.trim() === '') {
    throw new UsageError('--token must not be empty');
  }
  const connection = resolveConnection(loadConfig(configPath(io.env)), io.env, options.context);
  let token: string;
  if (options.token !== undefined) {
    token = options.token.trim();
    await checkToken(connection, name, token);
  } else if (connection.serviceAccountName === name && connection.serviceAccountToken !== undefined) {
    if (options.rotate) {
      io.err(
        `Note: --rotate ignored: "${name}" is the service account this CLI authenticates as, so its current token ` +
          'is used (rotating it would lock this context out).\n',
      );
    }
    token = connection.serviceAccountToken;
  } else if (options.rotate) {
    token = await rotateToken(io, connection, name);
  } else {
    throw new CliError(
      `cannot read the token of service account "${name}" back: the controller stores tokens only as hashes. ` +
        `Give it with --token TOKEN (it is checked against the controller), or add --rotate to replace it with a ` +
        'new one (clients using the old token then stop authenticating)',
    );
  }
  const encoded = encodeBootstrapToken({
    serviceAccountName: name,
    serviceAccountToken: token,
    ...(connection.certificatePem !== undefined ? { certificatePem: connection.certificatePem } : {}),
  });
  io.out(`${encoded}\n`);
}
