import { ApiError } from '@grove/client';
import { CliError } from '../cli.errors';
import { renderMachine, type OutputFormat } from '../output/render';
import { renderStatus } from '../output/status-render';
import type { CommandIo, GlobalOptions } from './io';
import { withClient } from './session';

export interface StatusOptions extends GlobalOptions {
  output: OutputFormat;
}

/** `grove status`: the cluster at a glance, from `GET /v1/status`. */
export async function showStatus(io: CommandIo, options: StatusOptions): Promise<void> {
  const status = await withClient(io, options, async (client) => {
    try {
      return await client.status();
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        throw new CliError(
          `${client.url} has no GET /v1/status: it is an Orchard controller or an older Grove one ` +
            '(use grove list workers and grove list vms)',
          { cause: err },
        );
      }
      throw err;
    }
  });
  io.out(options.output === 'table' ? renderStatus(status, io.now()) : renderMachine(status, options.output));
}
