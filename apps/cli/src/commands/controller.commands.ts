import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CliError, UsageError } from '../cli.errors';
import { groveHome } from '../config/config-file';
import type { CommandIo } from './io';

export interface ControllerRunOptions {
  listen: string;
  dataDir?: string;
  insecureNoTls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

/** The argv for the controller's entry script: exactly the flags `grove controller run` was given. */
export function controllerArgs(main: string, options: ControllerRunOptions, io: Pick<CommandIo, 'env'>): string[] {
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new UsageError('--tls-cert and --tls-key must be given together');
  }
  if (options.insecureNoTls && options.tlsCert !== undefined) {
    throw new UsageError('--insecure-no-tls cannot be combined with --tls-cert/--tls-key');
  }
  const args = [
    main,
    '--listen',
    options.listen,
    '--data-dir',
    options.dataDir ?? join(groveHome(io.env), 'controller'),
  ];
  if (options.insecureNoTls) {
    args.push('--insecure-no-tls');
  }
  if (options.tlsCert !== undefined && options.tlsKey !== undefined) {
    args.push('--tls-cert', options.tlsCert, '--tls-key', options.tlsKey);
  }
  return args;
}

function controllerMain(): string {
  let packageJson: string;
  try {
    // Not an import: only the path of the controller's entry script, which runs as a separate process.
    // eslint-disable-next-line @nx/enforce-module-boundaries -- resolving a path, no controller code is loaded
    packageJson = require.resolve('@grove/controller/package.json');
  } catch (err) {
    throw new CliError('the Grove controller package (@grove/controller) is not installed next to the CLI', {
      cause: err,
    });
  }
  const main = join(dirname(packageJson), 'dist/main.js');
  if (!existsSync(main)) {
    throw new CliError(`the Grove controller is not built: ${main} is missing`);
  }
  return main;
}

/**
 * Runs the controller as a child process (the CLI never loads controller code itself), forwarding SIGINT and
 * SIGTERM to it. Resolves with the child's exit code.
 */
export function controllerRun(io: CommandIo, options: ControllerRunOptions): Promise<number> {
  const args = controllerArgs(controllerMain(), options, io);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit', env: process.env });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
    for (const signal of signals) {
      process.on(signal, forward);
    }
    const cleanup = (): void => {
      for (const signal of signals) {
        process.off(signal, forward);
      }
    };
    child.once('error', (err) => {
      cleanup();
      reject(new CliError(`cannot start the controller: ${err.message}`, { cause: err }));
    });
    child.once('exit', (code, signal) => {
      cleanup();
      // A child killed by a signal exits like a shell reports it: 128 + signal number.
      resolve(code ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1));
    });
  });
}
