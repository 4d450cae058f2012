import type { Http2SecureServer, Http2Server, Http2Session, ServerOptions } from 'node:http2';
import type { Server } from '@grpc/grpc-js';

/**
 * HTTP/2 receive window of each stream. Tunnel sessions have their own flow control (TunnelEndpoint, up to the same
 * 4 MiB), and their receivers always read, so HTTP/2's windows only need to stay out of the way: 64 KiB, Node's
 * default, would cap a session at 3 MB/s on a 20 ms path (tunnels.md §4.1); 4 MiB allows 200 MB/s there. Larger
 * windows were measured to deadlock Node's HTTP/2 under 200 concurrent bulk sessions (both peers stopped reading
 * their sockets), so do not raise this without running the 200-session e2e test.
 */
export const GRPC_STREAM_WINDOW = 4 * 1024 * 1024;
/** HTTP/2 receive window of a whole connection (the sum over its streams). */
export const GRPC_CONNECTION_WINDOW = 64 * 1024 * 1024;

/**
 * Channel options for the worker's gRPC client. grpc-js applies `grpc-node.flow_control_window` to both the stream
 * and the connection window of the client side; it has no way to set the server side (see enlargeServerWindows).
 */
export const GRPC_CLIENT_FLOW_CONTROL = { 'grpc-node.flow_control_window': GRPC_STREAM_WINDOW } as const;

type ServerInternals = {
  commonServerOptions?: ServerOptions;
  createHttp2Server?: (credentials: unknown) => Http2Server | Http2SecureServer;
};

/**
 * Gives a grpc-js server the same large receive windows as its clients. grpc-js 1.14 cannot do this itself
 * (grpc/grpc-node#3058, tunnels.md §4.3): its HTTP/2 server keeps Node's 64 KiB windows. This sets the initial stream
 * window in the settings grpc-js passes to `http2.createServer`, and enlarges each connection's window as it
 * arrives. Call before `bindAsync`. Throws if grpc-js's internals changed shape, rather than silently running slow.
 */
export function enlargeServerWindows(server: Server): void {
  const internals = server as unknown as ServerInternals;
  const create = internals.createHttp2Server;
  if (!internals.commonServerOptions || typeof create !== 'function') {
    throw new Error('this @grpc/grpc-js version does not expose the HTTP/2 server options Grove needs to enlarge');
  }
  internals.commonServerOptions.settings = {
    ...internals.commonServerOptions.settings,
    initialWindowSize: GRPC_STREAM_WINDOW,
  };
  internals.createHttp2Server = (credentials: unknown) => {
    const http2Server = create.call(server, credentials);
    http2Server.on('session', (session: Http2Session) => {
      session.setLocalWindowSize(GRPC_CONNECTION_WINDOW);
    });
    return http2Server;
  };
}
