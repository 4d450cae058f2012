import { mkdirSync } from 'node:fs';
import { ConsoleLogger, Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { DataSource } from 'typeorm';
import { createControllerApp } from './app';
import type { ControllerConfig } from './infra/config/controller-config';
import { clusterCertificate } from './cluster/cluster-certificate';
import { ReplicaRegistry } from './cluster/replica-registry';
import { openDataSource } from './infra/database/data-source';
import { lockDataDir } from './infra/database/data-dir-lock';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './infra/database/embedded-postgres';
import { JsonLogger } from './infra/logging/json-logger';
import { loadOrCreateCertificate } from './infra/tls/certificate';
import { BOOTSTRAP_ADMIN, ServiceAccountService } from './service-accounts/service-account.service';
import { DrainState } from './common/drain-state';
import { ExecService } from './exec/exec.service';
import { TunnelSessionService } from './tunnels/tunnel-session.service';
import { WorkerGrpcServer } from './worker-sessions/worker-grpc.server';

/** Nest's start-up chatter (every module and route) is noise for operators. */
const NEST_CHATTER = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication']);

class OperatorLogger extends ConsoleLogger {
  override log(message: unknown, ...rest: unknown[]): void {
    const context = rest[rest.length - 1];
    if (typeof context === 'string' && NEST_CHATTER.has(context)) {
      return;
    }
    super.log(message, ...rest);
  }
}

export interface RunningController {
  url: string;
  app: NestFastifyApplication;
  fingerprint?: string;
  /**
   * First step of a graceful stop (SIGTERM): workers are told to reconnect (to another replica when there is one) and
   * sessions in progress get up to `--shutdown-grace` to end by themselves; `close` then cuts what is left.
   */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** How often the drain looks whether sessions are left. */
const DRAIN_POLL_MS = 100;

const POOL_SIZE = 10;
const EMBEDDED_POOL_SIZE = 4;

/** Where to reach a listener bound to `host`: wildcard addresses are reached through loopback. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '') {
    return '127.0.0.1';
  }
  if (host === '::') {
    return '[::1]';
  }
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Starts the controller: data dir, TLS material, database (Postgres by URL, else embedded PGlite), migrations,
 * bootstrap account, HTTP(S) listener. Prints what an operator needs: the URL, the certificate fingerprint and, on
 * first start, the bootstrap token.
 */
export async function runController(
  config: ControllerConfig,
  out: (line: string) => void = console.log,
): Promise<RunningController> {
  const logger = config.jsonLogs ? new JsonLogger() : new OperatorLogger('Grove', { timestamp: true });
  Logger.overrideLogger(logger);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

  let embedded: EmbeddedPostgres | undefined;
  let dataSource: DataSource;
  let unlockDataDir = (): void => undefined;
  if (config.databaseUrl) {
    dataSource = await openDataSource({ url: config.databaseUrl }, POOL_SIZE);
  } else {
    unlockDataDir = lockDataDir(config.dataDir);
    out(`Starting the embedded database in ${config.dataDir}/db (set GROVE_DATABASE_URL to use Postgres)...`);
    embedded = await startEmbeddedPostgres(config.dataDir, EMBEDDED_POOL_SIZE);
    dataSource = await openDataSource(embedded.connection, EMBEDDED_POOL_SIZE);
  }

  // Every replica on one database serves the same certificate (workers and contexts pin its fingerprint).
  const tls = config.insecureNoTls
    ? undefined
    : await clusterCertificate(
        dataSource,
        await loadOrCreateCertificate({
          dataDir: config.dataDir,
          certFile: config.tlsCertFile,
          keyFile: config.tlsKeyFile,
        }),
      );

  const app = await createControllerApp(config, dataSource, {
    tls: tls && { ...tls, operatorProvided: tls.source === 'user' },
    logger,
  });
  const bootstrap = await app.get(ServiceAccountService).bootstrap(config.bootstrapAdminToken);
  await app.listen({ host: config.listenHost, port: config.listenPort });

  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.listenPort;
  // Other replicas forward reattaching exec clients here.
  await app.get(ReplicaRegistry).setHttpPort(port);
  const url = `${tls ? 'https' : 'http'}://${reachableHost(config.listenHost)}:${port}`;
  out(`Grove controller "${config.replicaName}" listening on ${url} (bound to ${config.listenHost}:${port})`);
  const grpcPort = app.get(WorkerGrpcServer).port;
  if (grpcPort !== undefined) {
    out(`Worker sessions (gRPC${tls ? ' over TLS' : ''}) on ${config.grpcListen?.host}:${grpcPort}`);
  }
  if (tls) {
    out(`TLS certificate (${tls.source}) SHA-256 fingerprint: ${tls.fingerprint}`);
  } else {
    out('WARNING: TLS is off (--insecure-no-tls): credentials travel in clear text');
  }
  if (bootstrap) {
    out(`Service account "${BOOTSTRAP_ADMIN}" has every role.`);
    out(
      bootstrap.generated
        ? `Its token (shown only now): ${bootstrap.token}`
        : 'Its token is the value of GROVE_BOOTSTRAP_ADMIN_TOKEN.',
    );
    out(
      `Create a CLI context with: grove context create ${url} --service-account-name ${BOOTSTRAP_ADMIN} --service-account-token <token>`,
    );
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    app,
    fingerprint: tls?.fingerprint,
    drain: async () => {
      app.get(DrainState).begin();
      app.get(WorkerGrpcServer).beforeApplicationShutdown();
      const left = () => app.get(TunnelSessionService).activeSessions + app.get(ExecService).runningCommands;
      const deadline = Date.now() + config.shutdownGraceMs;
      if (left() > 0) {
        out(`Waiting up to ${config.shutdownGraceMs / 1000} s for ${left()} session(s) in progress to end...`);
      }
      while (left() > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
      }
      if (left() > 0) {
        out(`Ending ${left()} session(s) still in progress (--shutdown-grace ${config.shutdownGraceMs / 1000} s)`);
      }
    },
    close: () =>
      (closing ??= (async () => {
        await app.close();
        await dataSource.destroy();
        await embedded?.close();
        unlockDataDir();
      })()),
  };
}
