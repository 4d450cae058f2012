import { ConfigError, loadControllerConfig } from './infra/config/controller-config';
import { runController } from './run-controller';

/**
 * Entry point of the controller process. `grove controller run` spawns it with the same flags, so that the CLI
 * stays a client and never loads controller code.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadControllerConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`Error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const controller = await runController(config);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      return;
    }
    stopping = true;
    console.log(`Received ${signal}, shutting down...`);
    // A second signal skips the drain.
    process.once(signal, () => void controller.close().then(() => process.exit(0)));
    controller
      .drain()
      .then(() => controller.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          console.error('Error: shutdown failed:', err);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  const error = err as Error;
  process.stderr.write(`Error: the controller failed to start: ${error.message}\n`);
  if (error.cause) {
    process.stderr.write(
      `  caused by: ${error.cause instanceof Error ? error.cause.message : JSON.stringify(error.cause)}\n`,
    );
  }
  process.exit(1);
});
