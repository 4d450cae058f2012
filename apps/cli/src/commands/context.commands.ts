import { ApiError, ControllerConnectionError, fetchPeerCertificate, GroveClient } from '@grove/client';
import { certificateFingerprint, validateName } from '@grove/resources';
import { CliError, UsageError } from '../cli.errors';
import { configPath, loadConfig, saveConfig, type GroveConfig } from '../config/config-file';
import { encodeCertificate, findContext } from '../config/connection';
import { normalizeControllerUrl } from '../controller-url';
import { formatTable } from '../output/table';
import { askLine, askSecret, canPrompt } from '../prompt';
import { cliVersion } from '../version';
import type { CommandIo } from './io';

export interface ContextCreateOptions {
  name: string;
  serviceAccountName?: string;
  serviceAccountToken?: string;
  force?: boolean;
  yes?: boolean;
  /** Skip the attempt to verify the certificate with the system's authorities (orchard `--no-pki`). */
  pki?: boolean;
}

async function credential(given: string | undefined, flag: string, question: string, secret: boolean): Promise<string> {
  if (given !== undefined && given !== '') {
    return given;
  }
  if (!canPrompt()) {
    throw new UsageError(`missing ${flag} (stdin is not a terminal, so it cannot be asked for)`);
  }
  const answer = secret ? await askSecret(question) : await askLine(question);
  if (answer === '') {
    throw new UsageError(`missing ${flag}`);
  }
  return answer;
}

/**
 * Decides how to trust an https controller. A certificate the system trusts is used as is (nothing pinned);
 * otherwise the presented certificate's fingerprint is shown and, once confirmed, that certificate is pinned.
 */
async function establishTrust(io: CommandIo, url: string, options: ContextCreateOptions): Promise<string | undefined> {
  if (options.pki !== false) {
    const probe = new GroveClient({ url, userAgent: `Grove/${cliVersion()}` });
    try {
      await probe.info();
      return undefined;
    } catch (err) {
      if (!(err instanceof ControllerConnectionError && err.kind === 'certificate')) {
        throw err;
      }
    } finally {
      probe.close();
    }
  }
  const peer = await fetchPeerCertificate(url);
  io.err(
    `The authenticity of controller ${url} cannot be established.\n` +
      `Certificate SHA-256 fingerprint is: ${certificateFingerprint(peer.der)}\n`,
  );
  if (!options.yes) {
    const answer = (await askLine('Are you sure you want to trust it? (yes/no) ')).toLowerCase();
    if (answer !== 'yes' && answer !== 'y') {
      throw new CliError('the controller certificate was not trusted; the context was not created');
    }
  }
  return peer.pem;
}

export async function contextCreate(io: CommandIo, rawUrl: string, options: ContextCreateOptions): Promise<void> {
  const url = normalizeControllerUrl(rawUrl);
  const nameError = validateName('--name', options.name);
  if (nameError) {
    throw new UsageError(`invalid context name "${options.name}": ${nameError.message}`);
  }
  const path = configPath(io.env);
  const config = loadConfig(path);
  if (findContext(config, options.name) && !options.force) {
    throw new CliError(`context "${options.name}" already exists; add --force to replace it`);
  }
  const serviceAccountName = await credential(
    options.serviceAccountName,
    '--service-account-name',
    'Service account name: ',
    false,
  );
  const serviceAccountToken = await credential(
    options.serviceAccountToken,
    '--service-account-token',
    'Service account token: ',
    true,
  );
  const certificatePem = url.startsWith('https:') ? await establishTrust(io, url, options) : undefined;

  const client = new GroveClient({
    url,
    serviceAccountName,
    serviceAccountToken,
    certificatePem,
    userAgent: `Grove/${cliVersion()}`,
  });
  try {
    await client.controllerInfo();
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      throw new CliError(
        `the controller at ${url} refused service account "${serviceAccountName}" (${err.userMessage}); ` +
          'the context was not created',
        { cause: err },
      );
    }
    throw err;
  } finally {
    client.close();
  }

  // Re-read: the file may have changed while the user was answering questions.
  const latest = loadConfig(path);
  latest.contexts[options.name] = {
    url,
    ...(certificatePem ? { certificate: encodeCertificate(certificatePem) } : {}),
    serviceAccountName,
    serviceAccountToken,
  };
  const becomesDefault = latest.defaultContext === undefined || !findContext(latest, latest.defaultContext);
  if (becomesDefault) {
    latest.defaultContext = options.name;
  }
  saveConfig(path, latest);
  const pinned = certificatePem ? ', certificate pinned' : '';
  io.out(
    `Context "${options.name}" created for ${url}${pinned}` +
      `${becomesDefault || latest.defaultContext === options.name ? ' (default)' : ''}.\n`,
  );
}

function requireContext(config: GroveConfig, name: string): void {
  if (!findContext(config, name)) {
    const known = Object.keys(config.contexts).sort();
    throw new CliError(
      `context "${name}" does not exist${known.length > 0 ? ` (known contexts: ${known.join(', ')})` : ''}`,
    );
  }
}

export function contextList(io: CommandIo): void {
  const config = loadConfig(configPath(io.env));
  const names = Object.keys(config.contexts).sort();
  if (names.length === 0) {
    io.err('No contexts yet: create one with "grove context create <controller URL>".\n');
    return;
  }
  io.out(
    formatTable(
      ['NAME', 'URL', 'DEFAULT'],
      names.map((name) => [name, config.contexts[name].url, name === config.defaultContext ? '*' : '']),
    ),
  );
}

export function contextDefault(io: CommandIo, name: string): void {
  const path = configPath(io.env);
  const config = loadConfig(path);
  requireContext(config, name);
  config.defaultContext = name;
  saveConfig(path, config);
  io.out(`Default context is now "${name}".\n`);
}

export function contextDelete(io: CommandIo, name: string): void {
  const path = configPath(io.env);
  const config = loadConfig(path);
  requireContext(config, name);
  delete config.contexts[name];
  let note = '';
  if (config.defaultContext === name || (config.defaultContext && !findContext(config, config.defaultContext))) {
    const next = Object.keys(config.contexts).sort()[0];
    if (next === undefined) {
      delete config.defaultContext;
      note = '; no context is left';
    } else {
      config.defaultContext = next;
      note = `; the default context is now "${next}"`;
    }
  }
  saveConfig(path, config);
  io.out(`Context "${name}" deleted${note}.\n`);
}
