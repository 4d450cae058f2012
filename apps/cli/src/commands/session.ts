import { GroveClient } from '@grove/client';
import { configPath, loadConfig } from '../config/config-file';
import { resolveConnection, type Connection } from '../config/connection';
import { cliVersion } from '../version';
import type { CommandIo, GlobalOptions } from './io';

/** The selected context (or the environment overrides): URL, credentials, pinned certificate. */
export function currentConnection(io: CommandIo, options: GlobalOptions): Connection {
  return resolveConnection(loadConfig(configPath(io.env)), io.env, options.context);
}

/** An API client for the selected context (or the environment overrides). */
export function connect(io: CommandIo, options: GlobalOptions): GroveClient {
  return new GroveClient({ ...currentConnection(io, options), userAgent: `Grove/${cliVersion()}` });
}

/** Runs `fn` with a client and closes the client's idle connections afterwards. */
export async function withClient<T>(
  io: CommandIo,
  options: GlobalOptions,
  fn: (client: GroveClient) => Promise<T>,
): Promise<T> {
  const client = connect(io, options);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}
