import 'reflect-metadata';
import { type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { DataSource } from 'typeorm';
import { AppModule } from './app.module';
import { HttpExceptionFilter } from './common/http-exception.filter';
import { createValidationPipe } from './common/validation';
import type { ControllerConfig } from './infra/config/controller-config';
import { DatabaseAvailability } from './infra/database/database-availability.service';
import { buildOpenApiDocument, serveOpenApi } from './openapi';
import { routeWebSocketUpgrades } from './tunnels/websocket-upgrade';

export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  /** Given with --tls-cert/--tls-key (not generated): verified, not pinned, by relaying replicas. */
  operatorProvided?: boolean;
}

/** Largest request body accepted (VM documents and event batches are far smaller). */
const BODY_LIMIT = 1024 * 1024;

/** Builds the Nest application on Fastify: the same path for `grove controller run` and the integration tests. */
export async function createControllerApp(
  config: ControllerConfig,
  dataSource: DataSource,
  options: { tls?: TlsMaterial; logger?: LoggerService | false } = {},
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT,
    // Orchard's API has no trailing-slash variants except GET /v1/; accept both spellings everywhere.
    routerOptions: { ignoreTrailingSlash: true },
    ...(options.tls
      ? { https: { cert: options.tls.certPem, key: options.tls.keyPem, minVersion: 'TLSv1.2' as const } }
      : {}),
  });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(
      config,
      dataSource,
      options.tls && {
        certPem: options.tls.certPem,
        keyPem: options.tls.keyPem,
        operatorProvided: options.tls.operatorProvided,
      },
    ),
    adapter,
    {
      logger: options.logger ?? undefined,
      bufferLogs: false,
    },
  );
  app.useGlobalPipes(createValidationPipe());
  // A global filter (not APP_FILTER) also covers errors raised before a route handler runs, such as bad JSON.
  app.useGlobalFilters(new HttpExceptionFilter(app.get(DatabaseAvailability)));
  // No enableShutdownHooks(): the process's entry (main.ts) owns SIGTERM/SIGINT, drains sessions first and then calls
  // app.close(), which runs the same hooks. Nest's own signal handler would close everything at once, skipping the drain.
  serveOpenApi(app, buildOpenApiDocument(app), config.swaggerUi);
  await app.init();
  const fastify = app.getHttpAdapter().getInstance();
  routeWebSocketUpgrades(app.getHttpServer(), (req, res) => fastify.routing(req, res));
  return app;
}
