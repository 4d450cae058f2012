import { GroveClient } from '@grove/client';
import { configPath, loadConfig } from '../config/config-file';
import { resolveConnection } from '../config/connection';
import { cliVersion } from '../version';
import type { CommandIo, GlobalOptions } from './io';

/** An API client for the selected context (or the environment overrides). */
export function connect(io: CommandIo, options: GlobalOptions): GroveClient {
  const connection = resolveConnection(loadConfig(configPath(io.env)), io.env, options.context);
  return new GroveClient({ ...connection, userAgent: `Grove/${cliVersion()}` });
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
