import 'reflect-metadata';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import type { DataSource } from 'typeorm';
import { AppModule } from './app.module';
import { HttpExceptionFilter } from './common/http-exception.filter';
import { answerFrameworkError, MAX_PATH_PARAM_LENGTH } from './common/request-input';
import { createValidationPipe } from './common/validation';
import type { ControllerConfig } from './infra/config/controller-config';
import { DatabaseAvailability } from './infra/database/database-availability.service';
import { HttpMetrics } from './metrics/http-metrics';
import { buildOpenApiDocument, serveOpenApi } from './openapi';
import { PreviewProxy } from './previews/preview-proxy';
import { routeWebSocketUpgrades } from './tunnels/websocket-upgrade';
import { PortForwardFastLane } from './tunnels/port-forward-fast-lane';
import { TunnelLinkBroker } from './worker-sessions/tunnel-link-broker';

export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  /** Given with --tls-cert/--tls-key (not generated): verified, not pinned, by relaying replicas. */
  operatorProvided?: boolean;
}

/** Largest request body accepted (VM documents and event batches are far smaller). */
const BODY_LIMIT = 1024 * 1024;

/**
 * How long the HTTP server's close waits at shutdown for the connections still open (a response still being sent, a
 * client that stopped reading, a WebSocket handshake still waiting for its VM) before it cuts them.
 */
export const SHUTDOWN_GRACE_MS = 3_000;

/**
 * Bounds the HTTP server's close (issue 11: SIGTERM with watch streams open did not exit in 20 s). Streams and
 * WebSockets are ended before, in beforeApplicationShutdown hooks; what else would hold the close: Node's
 * `server.close()` closes the keep-alive connections idle at that instant and waits for the others, so a connection
 * whose response finishes a moment later stays open as an idle keep-alive connection for Fastify's keepAliveTimeout
 * (72 s). From Fastify's preClose on, every response in progress is answered with `Connection: close` when its head
 * is not sent yet, and its connection is ended once it has been sent; whatever is still open `graceMs` later is cut.
 * (Fastify's `forceCloseConnections: true` would cut every connection at once, streams still flushing their last
 * bytes included; its default, `'idle'`, is what Node's close does by itself.)
 */
function boundServerClose(fastify: FastifyInstance, server: Server, graceMs: number): void {
  const sockets = new Set<Socket>();
  const responses = new Set<ServerResponse>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const track = (_req: IncomingMessage, res: ServerResponse) => {
    responses.add(res);
    res.once('close', () => responses.delete(res));
  };
  server.on('request', track);
  fastify.addHook('preClose', (done) => {
    server.off('request', track);
    for (const res of responses) {
      closeAfterResponse(res);
    }
    responses.clear();
    server.on('request', (_req: IncomingMessage, res: ServerResponse) => closeAfterResponse(res));
    const timer = setTimeout(() => {
      for (const socket of sockets) {
        socket.destroy();
      }
    }, graceMs);
    timer.unref();
    server.once('close', () => clearTimeout(timer));
    done();
  });
}

/**
 * Ends the connection of a response once it has been sent, and says so in the response when it still can. A response
 * already sent is left alone: its connection is idle (Node's close closes it) or carries a newer, tracked request.
 */
function closeAfterResponse(res: ServerResponse): void {
  if (res.writableFinished) {
    return;
  }
  if (!res.headersSent) {
    res.setHeader('connection', 'close');
  }
  const socket = res.socket;
  res.once('finish', () => socket?.end());
}

/** Builds the Nest application on Fastify: the same path for `grove controller run` and the integration tests. */
export async function createControllerApp(
  config: ControllerConfig,
  dataSource: DataSource,
  options: { tls?: TlsMaterial; logger?: LoggerService | false } = {},
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT,
    // Orchard's API has no trailing-slash variants except GET /v1/; accept both spellings everywhere.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PATH_PARAM_LENGTH },
    frameworkErrors: answerFrameworkError,
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
  const fastify = app.getHttpAdapter().getInstance();
  const server = app.getHttpServer();
  boundServerClose(fastify, server, SHUTDOWN_GRACE_MS);
  app.get(HttpMetrics).install(fastify);
  // Before Fastify reads request bodies: a preview streams them to the VM as they come.
  app.get(PreviewProxy).install(fastify);
  await app.init();
  const links = app.get(TunnelLinkBroker);
  const portForwards = app.get(PortForwardFastLane);
  routeWebSocketUpgrades(
    server,
    (req, res) => fastify.routing(req, res),
    (req, socket, route) => links.interceptUpgrade(req, socket) || portForwards.intercept(req, socket, route),
  );
  return app;
}
