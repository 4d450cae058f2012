import type { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONTROLLER_SERVER_NAME } from '../infra/tls/certificate';
import { GRPC_TLS, type GrpcTls } from '../infra/tls/grpc-tls';
import type { OtherReplica } from './replica-registry';

/** Marks a request a replica forwarded, so that the receiving replica never forwards it again. */
export const FORWARDED_BY_HEADER = 'x-grove-forwarded-by';

/** How long connecting to the other replica may take. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * Hands a client's WebSocket handshake to another replica, byte for byte: the request head is written to the other
 * replica's REST listener (which authenticates the client itself, from the same Authorization header) and then the
 * two sockets are piped both ways — one extra hop, no re-framing. Used for reconnectable exec sessions, which live in
 * the memory of the replica that started them. TLS to the other replica is pinned to the cluster certificate like the
 * gRPC relays (or verified normally for an operator's certificate).
 */
@Injectable()
export class UpgradeForwarder {
  private readonly logger = new Logger('Forward');

  constructor(@Inject(GRPC_TLS) private readonly tls: GrpcTls) {}

  forward(request: IncomingMessage, client: Duplex, to: OtherReplica, self: string): void {
    const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(to.httpAddress);
    if (!match) {
      refuse(client, `replica "${to.replica}" has no known REST address`);
      return;
    }
    const host = match[1] ?? match[2];
    const port = Number(match[3]);
    const pinned = this.tls !== undefined && !this.tls.operatorProvided;
    const upstream: Socket = !this.tls
      ? netConnect({ host, port })
      : tlsConnect({
          host,
          port,
          ...(pinned ? { ca: this.tls.certPem, servername: CONTROLLER_SERVER_NAME } : { servername: host }),
        });
    let connected = false;
    const timer = setTimeout(() => upstream.destroy(new Error('connection timed out')), CONNECT_TIMEOUT_MS);
    const connectEvent = this.tls ? 'secureConnect' : 'connect';
    upstream.once(connectEvent, () => {
      connected = true;
      clearTimeout(timer);
      upstream.setNoDelay(true);
      upstream.write(requestHead(request, self));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.once('error', (err: Error) => {
      clearTimeout(timer);
      if (!connected) {
        this.logger.warn(`could not forward to replica "${to.replica}" at ${to.httpAddress}: ${err.message}`);
        refuse(client, `replica "${to.replica}", which holds this session, cannot be reached: ${err.message}`);
      } else {
        client.destroy();
      }
    });
    upstream.once('close', () => client.destroy());
    client.once('error', () => upstream.destroy());
    client.once('close', () => upstream.destroy());
  }
}

/** The request line and headers as the client sent them, plus the forwarding mark. */
function requestHead(request: IncomingMessage, self: string): string {
  const lines = [`${request.method ?? 'GET'} ${request.url ?? '/'} HTTP/1.1`];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    if (request.rawHeaders[i].toLowerCase() !== FORWARDED_BY_HEADER) {
      lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`);
    }
  }
  lines.push(`${FORWARDED_BY_HEADER}: ${self}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Answers the handshake with 503 and a JSON error, as every endpoint answers errors. */
function refuse(client: Duplex, message: string): void {
  const body = JSON.stringify({ message });
  client.end(
    `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\nretry-after: 1\r\nconnection: close\r\n\r\n${body}`,
  );
}
