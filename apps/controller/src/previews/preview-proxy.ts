import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import { Injectable, Logger } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { DomainError, DomainErrorCode } from '../common/domain-error';
import { TunnelSessionService } from '../tunnels/tunnel-session.service';
import { duplexPair } from './duplex-pair';
import { scopePreviewCookie } from './preview-cookies';
import { PreviewKey } from './preview-key';
import { checkPreviewToken, type PreviewClaims } from './preview-token';

export const PREVIEW_PREFIX = '/preview/';

/** How long a preview request waits for its VM to run and its worker to hand over a tunnel. */
const PREVIEW_WAIT_SECONDS = 10;

/** Headers of one hop only (RFC 9110 §7.6.1), and the console's credentials, which are not the VM's business. */
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'authorization',
  'host',
]);

/**
 * What a previewed page may do: it runs in a sandbox with an opaque origin (no `allow-same-origin`), so that a VM's
 * page, served from the controller's own origin, can neither read the console's stored credentials nor call the API
 * as the signed-in user. Its scripts, forms and links still work; its own same-origin fetches become cross-origin.
 */
const PREVIEW_SANDBOX = 'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads';

/** The token, and the rest of the URL after it (`/path?query`, possibly empty). */
function splitPreviewUrl(url: string): { token: string; rest: string } {
  const tail = url.slice(PREVIEW_PREFIX.length);
  const end = tail.search(/[/?]/);
  return end < 0 ? { token: tail, rest: '' } : { token: tail.slice(0, end), rest: tail.slice(end) };
}

/** The request's headers for the VM: its own, without hop-by-hop headers and credentials, plus where it came from. */
function upstreamHeaders(req: IncomingMessage, token: string, port: number): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !NOT_FORWARDED.has(name)) {
      headers[name] = value;
    }
  }
  const tls = (req.socket as { encrypted?: boolean }).encrypted === true;
  // Development servers accept `localhost` by default and refuse host names they do not know.
  headers['host'] = `localhost:${port}`;
  headers['x-forwarded-host'] = req.headers.host ?? '';
  headers['x-forwarded-proto'] = tls ? 'https' : 'http';
  headers['x-forwarded-prefix'] = `${PREVIEW_PREFIX}${token}`;
  headers['connection'] = 'close';
  return headers;
}

/** The VM's answer headers for the browser: without hop-by-hop headers, sandboxed, redirects kept under the prefix. */
function downstreamHeaders(headers: IncomingHttpHeaders, token: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !NOT_FORWARDED.has(name)) {
      out[name] = value;
    }
  }
  // `Clear-Site-Data` would act on the controller's origin: the console's stored sign-in, every other preview's cookies.
  delete out['clear-site-data'];
  const cookies = headers['set-cookie'];
  if (cookies) {
    out['set-cookie'] = cookies.map((cookie) => scopePreviewCookie(cookie, `${PREVIEW_PREFIX}${token}`));
  }
  const location = headers.location;
  if (location?.startsWith('/') && !location.startsWith('//')) {
    out['location'] = `${PREVIEW_PREFIX}${token}${location}`;
  }
  const policies = headers['content-security-policy'];
  // A comma joins policies, each enforced (CSP §4.1): the VM's own, and the sandbox.
  out['content-security-policy'] = [
    ...(Array.isArray(policies) ? policies : policies ? [policies] : []),
    PREVIEW_SANDBOX,
  ].join(', ');
  // The token is in the page's URL: it must not leave in Referer headers to other sites.
  out['referrer-policy'] = 'no-referrer';
  return out;
}

function answerText(res: ServerResponse, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    // The sentence may quote the worker's reason: never to be taken for a page.
    'x-content-type-options': 'nosniff',
    'content-security-policy': PREVIEW_SANDBOX,
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** The VM of the link's name is a newer one than the link was made for. */
class RecreatedVm extends DomainError {
  constructor() {
    super(DomainErrorCode.NotFound, 'the preview link was made for an earlier VM of this name');
  }
}

/** The answer to a preview whose tunnel could not be opened. */
function failureStatus(err: unknown): number {
  if (!(err instanceof DomainError)) {
    return 500;
  }
  switch (err.code) {
    case DomainErrorCode.NotFound:
      return 404;
    case DomainErrorCode.TimedOut:
      return 504;
    case DomainErrorCode.ExpectationFailed:
    case DomainErrorCode.Unavailable:
      return 502;
    case DomainErrorCode.InvalidInput:
    case DomainErrorCode.Conflict:
    case DomainErrorCode.Unauthenticated:
    case DomainErrorCode.Forbidden:
    case DomainErrorCode.TooManyRequests:
      return 500;
  }
}

/**
 * HTTP under `/preview/<token>/` (issue 16, docs/console.md): each request is checked against its signed token (any
 * replica can: the key is the cluster's), then sent as HTTP/1.1 over a new tunnel to the VM port the token names, the
 * same path a port-forward takes (the worker's tunnel, or a relay to the replica that holds its session), with the
 * prefix removed, and the answer streamed back. It runs before Fastify reads the body (an `onRequest` hook), so that
 * bodies stream both ways whatever their type, and outside the API's authentication: the token is the capability.
 */
@Injectable()
export class PreviewProxy {
  private readonly logger = new Logger('Preview');

  constructor(
    private readonly tunnels: TunnelSessionService,
    private readonly key: PreviewKey,
  ) {}

  install(fastify: FastifyInstance): void {
    fastify.addHook('onRequest', async (request, reply) => {
      if (!request.raw.url?.startsWith(PREVIEW_PREFIX)) {
        return;
      }
      reply.hijack();
      await this.handle(request.raw, reply.raw);
      return reply;
    });
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { token, rest } = splitPreviewUrl(req.url ?? '');
    const check = checkPreviewToken(this.key.get(), token, Date.now());
    if ('problem' in check) {
      req.resume();
      if (check.problem === 'expired') {
        answerText(
          res,
          410,
          'This preview link has expired (they last an hour). Open the port again from the console.\n',
        );
      } else {
        answerText(res, 404, 'This preview link is not valid: it was not made by this Grove cluster, or it was cut.\n');
      }
      return;
    }
    if (!rest.startsWith('/')) {
      // Relative URLs of the page resolve against the directory: `/preview/<token>` needs its slash.
      req.resume();
      answerText(res, 302, 'See the preview under its slash.\n', { location: `${PREVIEW_PREFIX}${token}/${rest}` });
      return;
    }
    if (req.headers.upgrade !== undefined) {
      req.resume();
      answerText(res, 501, 'Previews carry plain HTTP only; use a port-forward (grove port-forward) for WebSockets.\n');
      return;
    }
    await this.proxy(req, res, check.claims, token, rest);
  }

  private async proxy(
    req: IncomingMessage,
    res: ServerResponse,
    claims: PreviewClaims,
    token: string,
    path: string,
  ): Promise<void> {
    const target = `VM "${claims.vm}" port ${claims.port}`;
    const gone = new AbortController();
    const onGone = () => gone.abort();
    res.once('close', onGone);
    let opened: Awaited<ReturnType<TunnelSessionService['openVmPort']>>;
    try {
      opened = await this.tunnels.openVmPort(claims.vm, claims.port, {
        waitSeconds: PREVIEW_WAIT_SECONDS,
        signal: gone.signal,
        // A new VM of the same name is not the one the link was made for: refused at once, not waited for.
        check: (vm) => {
          if (vm.uid !== claims.uid) {
            throw new RecreatedVm();
          }
        },
      });
    } catch (err) {
      res.off('close', onGone);
      req.resume();
      if (err instanceof RecreatedVm) {
        answerText(res, 404, `This preview link was made for a VM "${claims.vm}" that no longer exists.\n`);
        return;
      }
      const status = failureStatus(err);
      if (status === 500) {
        this.logger.error(`preview of ${target} failed: ${(err as Error).stack ?? String(err)}`);
      }
      answerText(res, status, `Cannot reach ${target}: ${(err as Error).message}\n`);
      return;
    }
    res.off('close', onGone);
    const [local, client] = duplexPair();
    void this.tunnels.attachVmTunnel(opened, local, {
      subject: { type: 'preview', account: claims.account, remoteAddress: req.socket.remoteAddress ?? '' },
      halfClose: true,
    });
    const upstream = httpRequest({
      createConnection: () => client,
      method: req.method,
      path,
      headers: upstreamHeaders(req, token, claims.port),
    });
    upstream.once('response', (answer: IncomingMessage) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, downstreamHeaders(answer.headers, token));
      answer.pipe(res);
      answer.once('error', () => res.destroy());
    });
    upstream.once('error', (err: Error) => {
      answerText(res, 502, `${target} did not answer as an HTTP server: ${err.message}\n`);
      client.destroy();
    });
    res.once('close', () => {
      if (!res.writableFinished) {
        upstream.destroy();
        client.destroy();
      }
    });
    req.pipe(upstream);
  }
}
