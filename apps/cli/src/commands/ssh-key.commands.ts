import { readFileSync } from 'node:fs';
import type { SshKey } from '@grove/resources';
import { UsageError } from '../cli.errors';
import { renderMachine, type OutputFormat } from '../output/render';
import { formatAge, formatTable } from '../output/table';
import { streamsOf, type CommandIo, type GlobalOptions } from './io';
import { withClient } from './session';

export interface SshKeyOutputOptions extends GlobalOptions {
  output: OutputFormat;
}

export interface SshKeyCreateOptions extends SshKeyOutputOptions {
  comment?: string;
}

/** Longest input read for one key: far more than any public key file. */
const MAX_KEY_INPUT_BYTES = 64 * 1024;

async function readStdin(io: CommandIo): Promise<string> {
  const { stdin } = streamsOf(io);
  if (stdin.isTTY) {
    throw new UsageError('give a public key file (e.g. ~/.ssh/id_ed25519.pub) or pipe the key into standard input');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += data.length;
    if (size > MAX_KEY_INPUT_BYTES) {
      throw new UsageError('standard input is too large for a public key');
    }
    chunks.push(data);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The key line: the first non-empty, non-comment line of the file or of stdin (`-` or no file). */
async function readKeyLine(io: CommandIo, file: string | undefined): Promise<string> {
  let text: string;
  if (file === undefined || file === '-') {
    text = await readStdin(io);
  } else {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
    }
  }
  if (/PRIVATE KEY-----/.test(text)) {
    throw new UsageError(
      `${file ?? 'standard input'} holds a private key: give the public key (the .pub file) and keep the private key secret`,
    );
  }
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
  if (lines.length !== 1) {
    throw new UsageError(
      `${file ?? 'standard input'} must hold exactly one public key line ("ssh-ed25519 AAAA… comment"), found ${lines.length}`,
    );
  }
  return lines[0].trim();
}

function renderSshKeyTable(keys: readonly SshKey[], now: Date): string {
  return formatTable(
    ['FINGERPRINT', 'TYPE', 'COMMENT', 'CREATED'],
    keys.map((key) => [key.fingerprint, key.type, key.comment, formatAge(key.createdAt, now)]),
  );
}

/** `grove create ssh-key ACCOUNT [FILE]`: attaches a public key for the controller's SSH gateway. */
export async function createSshKey(
  io: CommandIo,
  account: string,
  file: string | undefined,
  options: SshKeyCreateOptions,
): Promise<void> {
  const publicKey = await readKeyLine(io, file);
  const key = await withClient(io, options, (client) =>
    client.serviceAccounts.addSshKey(account, {
      publicKey,
      ...(options.comment !== undefined ? { comment: options.comment } : {}),
    }),
  );
  io.out(
    options.output === 'table'
      ? `SSH key ${key.fingerprint} (${key.type}${key.comment ? `, ${key.comment}` : ''}) attached to service account "${account}".\n`
      : renderMachine(key, options.output),
  );
}

/** `grove list ssh-keys ACCOUNT`. */
export async function listSshKeys(io: CommandIo, account: string, options: SshKeyOutputOptions): Promise<void> {
  const keys = await withClient(io, options, (client) => client.serviceAccounts.listSshKeys(account));
  io.out(options.output === 'table' ? renderSshKeyTable(keys, io.now()) : renderMachine(keys, options.output));
}

/** `grove delete ssh-key ACCOUNT FINGERPRINT`. */
export async function deleteSshKey(
  io: CommandIo,
  account: string,
  fingerprint: string,
  options: GlobalOptions,
): Promise<void> {
  await withClient(io, options, (client) => client.serviceAccounts.removeSshKey(account, fingerprint));
  io.out(`SSH key ${fingerprint} removed from service account "${account}".\n`);
}
