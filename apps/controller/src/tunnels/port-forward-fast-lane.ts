import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Injectable, Logger } from '@nestjs/common';
import type { ServiceAccount } from '@grove/resources';
import type { FastifyRequest } from 'fastify';
import { hasRoles, parseBasicAuth } from '../common/auth/auth.guard';
import type { AuthRule } from '../common/auth/roles.decorator';
import { LoginThrottle } from '../common/auth/login-throttle';
import { DatabaseAvailability } from '../infra/database/database-availability.service';
import { errorResponse } from '../common/http-exception.filter';
import { MAX_PATH_PARAM_LENGTH } from '../common/request-input';
import { HttpMetrics } from '../metrics/http-metrics';
import { SessionMetrics, tunnelSessionKind } from '../metrics/session-metrics';
import { ServiceAccountService } from '../service-accounts/service-account.service';
import { isRawTunnelRequest } from './link-session';
import { DEFAULT_PORT_FORWARD_WAIT_SECONDS, PORT_PATTERN, SECONDS_PATTERN } from './port-forward.dto';
import { TunnelSessionService, type PortForwardTarget } from './tunnel-session.service';
import { vmPortForwardRule, WORKER_PORT_FORWARD_ROLES } from './tunnel.controller';
import { answerUpgradeError, isWebSocketHandshake } from './websocket-upgrade';

const PATH = /^\/v1\/(vms|workers)\/([^/?#]+)\/port-forward(?:\?(.*))?$/;

/** Route templates (for the request metrics) and the roles TunnelController requires for a port, by target kind. */
const ROUTES: Record<PortForwardTarget['kind'], { route: string; rule: AuthRule }> = {
  vm: { route: '/v1/vms/:name/port-forward', rule: vmPortForwardRule({ query: { port: '1' } } as FastifyRequest) },
  worker: { route: '/v1/workers/:name/port-forward', rule: { kind: 'all', roles: WORKER_PORT_FORWARD_ROLES } },
};

/** A port-forward request that needs nothing of the routing: to a port, with valid parameters and credentials. */
interface PlainPortForward {
  target: PortForwardTarget;
  port: number;
  waitSeconds: number;
  credentials: { name: string; token: string };
}

/**
 * Port-forward upgrades without the HTTP routing (issue 17: session setup). A program's session is usually a plain
 * one — a port of a VM or of a worker host, HTTP Basic credentials of an account this replica knows, the roles it
 * needs — and for those, Fastify's routing, Nest's guard and pipes and class-validator cost more than the session
 * setup itself. This lane checks exactly what they would (the path, `port` and `wait`, the login throttle, the
 * account and its roles) and hands the request to the same TunnelSessionService; its refusals from there get the same
 * answers (status and `{"message"}`) and metrics. Anything else — other parameters (`target`, `hostProcess`), an
 * unusual spelling, missing or wrong credentials, missing roles, a throttled address — goes through the routing,
 * which answers it as before: the lane never refuses a request itself.
 */
@Injectable()
export class PortForwardFastLane {
  private readonly logger = new Logger('PortForwardFastLane');

  constructor(
    private readonly serviceAccounts: ServiceAccountService,
    private readonly throttle: LoginThrottle,
    private readonly sessions: TunnelSessionService,
    private readonly sessionMetrics: SessionMetrics,
    private readonly httpMetrics: HttpMetrics,
    private readonly database: DatabaseAvailability,
  ) {}

  /** Takes a plain port-forward upgrade (true), or leaves the request to the routing (false). */
  intercept(req: IncomingMessage, socket: Duplex, route: () => void): boolean {
    const plain = plainPortForward(req);
    if (!plain) {
      return false;
    }
    void this.run(req, socket, plain, route);
    return true;
  }

  private async run(req: IncomingMessage, socket: Duplex, plain: PlainPortForward, route: () => void): Promise<void> {
    const startedAt = performance.now();
    const address = req.socket.remoteAddress ?? '';
    let account: ServiceAccount | undefined;
    try {
      if (this.throttle.retryAfterMs(address) === 0) {
        account = await this.serviceAccounts.authenticate(plain.credentials.name, plain.credentials.token);
      }
    } catch {
      // The routing meets the same failure and answers it (a database outage is a 503 there).
    }
    const allowed = ROUTES[plain.target.kind];
    if (!account || !hasRoles(account, allowed.rule)) {
      route();
      return;
    }
    try {
      await this.sessions.portForward({
        target: plain.target,
        to: { kind: 'port', port: plain.port },
        waitSeconds: plain.waitSeconds,
        account,
        request: req,
        remoteAddress: address,
      });
    } catch (err) {
      this.sessionMetrics.refused(tunnelSessionKind(plain.port));
      const [status, body, headers] = errorResponse(err, this.logger, this.database);
      this.httpMetrics.observe('GET', allowed.route, status, (performance.now() - startedAt) / 1000);
      answerUpgradeError(socket, status, body, headers);
    }
  }
}

/**
 * The request as a plain port-forward, or undefined when anything about it is not plain. Fastify decodes the path
 * parameter and takes the query as URLSearchParams does; a parameter given twice is an array there, refused by
 * validation: not plain.
 */
function plainPortForward(req: IncomingMessage): PlainPortForward | undefined {
  if (req.method !== 'GET' || !(isRawTunnelRequest(req) || isWebSocketHandshake(req))) {
    return undefined;
  }
  const match = PATH.exec(req.url ?? '');
  const credentials = parseBasicAuth(req.headers.authorization);
  if (!match || !credentials || match[2].length > MAX_PATH_PARAM_LENGTH) {
    return undefined;
  }
  let name: string;
  try {
    name = decodeURIComponent(match[2]);
  } catch {
    return undefined;
  }
  const query = new URLSearchParams(match[3] ?? '');
  const keys = [...query.keys()];
  const port = query.get('port');
  const wait = query.get('wait');
  if (
    port === null ||
    !PORT_PATTERN.test(port) ||
    (wait !== null && !SECONDS_PATTERN.test(wait)) ||
    keys.length !== (wait === null ? 1 : 2) ||
    keys.some((key) => key !== 'port' && key !== 'wait')
  ) {
    return undefined;
  }
  return {
    target: { kind: match[1] === 'vms' ? 'vm' : 'worker', name },
    port: Number(port),
    waitSeconds: wait === null ? DEFAULT_PORT_FORWARD_WAIT_SECONDS : Number(wait),
    credentials,
  };
}
