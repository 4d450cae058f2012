import { readFileSync } from 'node:fs';
import { readMachineId } from './machine-id';
import { loadWorkerConfig, WorkerConfigError } from './config/worker-config';
import { WorkerSession } from './session/worker-session';

/**
 * Entry point of the worker process; `grove worker run` spawns it with the same arguments. It registers, keeps its
 * session with the controller, and reconnects on its own; SIGINT/SIGTERM end it.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadWorkerConfig(process.argv.slice(2), () => readFileSync(0, 'utf8'));
  } catch (err) {
    if (err instanceof WorkerConfigError) {
      process.stderr.write(`Error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = (line: string) => process.stdout.write(`${new Date().toISOString()} worker ${config.name}: ${line}\n`);
  const session = new WorkerSession({
    controllerUrl: config.controllerUrl,
    serviceAccountName: config.credentials.serviceAccountName,
    serviceAccountToken: config.credentials.serviceAccountToken,
    certificatePem: config.credentials.certificatePem,
    identity: {
      name: config.name,
      machineId: await readMachineId(),
      labels: config.labels,
      resources: config.resources,
      defaultCpu: config.defaultCpu,
      defaultMemory: config.defaultMemory,
      runtime: 'tart',
      arch: process.arch === 'x64' ? 'amd64' : 'arm64',
    },
    log,
  });
  session.on('sync', () => log('the controller asked for a VM sync'));
  const stop = (signal: string) => {
    log(`received ${signal}, stopping`);
    session.stop();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  await session.run();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`Error: the worker failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
