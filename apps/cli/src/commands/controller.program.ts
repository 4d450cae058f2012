import type { Command } from 'commander';
import type { CommandIo } from './io';
import { ADMINISTRATION_GROUP, allOptions, commands, examples, type ProgramState } from './program-helpers';

/** `grove controller run`; its handler is controller.commands.ts. */
export function addControllerCommands(program: Command, io: CommandIo, state: ProgramState): void {
  const controller = program
    .command('controller')
    .description('run a Grove controller')
    .helpGroup(ADMINISTRATION_GROUP);
  controller
    .command('run')
    .description('run the controller in the foreground (REST API, scheduler, worker connections)')
    .option('-l, --listen <address>', 'address to listen on, HOST:PORT', '0.0.0.0:6120')
    .option(
      '--data-dir <dir>',
      'data directory (certificate, key, embedded database) (default: "$GROVE_HOME/controller")',
    )
    .option('--listen-grpc <address>', 'address for worker sessions (gRPC), HOST:PORT, or "off"', '0.0.0.0:6121')
    .option(
      '--listen-ssh <address>',
      'turn on the SSH gateway (ssh -J <service-account>@controller admin@<vm>) on HOST:PORT, e.g. 0.0.0.0:6122',
    )
    .option(
      '--ssh-host-key <file>',
      "the SSH gateway's host private key (default: an ed25519 key generated once in the data dir)",
    )
    .option('--insecure-no-tls', 'serve plain HTTP instead of HTTPS (only behind a TLS-terminating proxy or for tests)')
    .option('--tls-cert <file>', 'PEM certificate to serve instead of the generated self-signed one')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--swagger-ui', 'serve Swagger UI at /v1/docs')
    .option(
      '--metrics-public',
      'serve /metrics (Prometheus) without credentials; without it, scraping needs a service account with admin:read',
    )
    .option('--log-format <format>', 'text or json (JSON lines for log pipelines; default: $GROVE_LOG_FORMAT or text)')
    .option('--worker-offline-timeout <duration>', 'a worker unseen for longer is offline, e.g. 90s, 3m (default: 3m)')
    .option(
      '--worker-ping-interval <duration>',
      'how often controller and workers ping each other; three missed pings end a session (default: 10s)',
    )
    .option(
      '--exec-session-retention-ttl <duration>',
      'how long a reconnectable exec session is kept after its command ended (default: 10m)',
    )
    .option(
      '--replica-name <name>',
      'name of this controller among those sharing one database (default: $GROVE_REPLICA_NAME or <host>-<random>)',
    )
    .option(
      '--relay-address <address>',
      "HOST:PORT where the other replicas reach this one's gRPC listener (default: the listener's address)",
    )
    .option(
      '--advertise-grpc-port <port>',
      "gRPC port workers are told to dial, e.g. a load balancer's (default: the bound port)",
    )
    .option(
      '--shutdown-grace <duration>',
      'on SIGTERM, how long sessions in progress may go on before they are cut (default: 5s)',
    )
    .option('--console-dir <dir>', "the web console's build served at /ui/ (default: apps/console/dist)")
    .addHelpText(
      'after',
      examples(
        'grove controller run',
        'grove controller run --listen 127.0.0.1:6120 --insecure-no-tls',
        'grove controller run --tls-cert /etc/grove/tls.crt --tls-key /etc/grove/tls.key',
        'grove controller run --listen-ssh 0.0.0.0:6122',
      ) +
        '\nEnvironment:\n' +
        "  GROVE_HOME                   Grove's home directory (default ~/.grove)\n" +
        '  GROVE_DATABASE_URL           postgres:// URL of the database (default: embedded database in the data dir)\n' +
        '  GROVE_BOOTSTRAP_ADMIN_TOKEN  token of the bootstrap-admin service account, set on every start\n' +
        '  GROVE_REPLICA_NAME, GROVE_RELAY_ADDRESS, GROVE_ADVERTISE_GRPC_PORT  as the flags (docs/high-availability.md)\n',
    )
    .action(async (_options: unknown, command: Command) => {
      state.exitCode = await commands.controller().controllerRun(io, allOptions(command));
    });
}
