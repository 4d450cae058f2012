import { randomUUID } from 'node:crypto';
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { ResourceValidationError, VmSpecConflictError } from '@grove/resources';
import type { FastifyReply } from 'fastify';
import { isDatabaseUnavailable } from '../infra/database/database-availability';
import {
  DATABASE_RETRY_AFTER_S,
  databaseUnavailableMessage,
  type DatabaseAvailability,
} from '../infra/database/database-availability.service';
import { DomainError, DomainErrorCode } from './domain-error';

interface ErrorBody {
  message: string;
  errors?: { field: string; message: string }[];
  correlationId?: string;
}

/** Status, body and the headers that go with them (`Retry-After` on a 503 during a database outage). */
export type ErrorResponse = [status: number, body: ErrorBody, headers?: Record<string, string>];

function statusOf(code: DomainErrorCode): number {
  switch (code) {
    case DomainErrorCode.InvalidInput:
      return 400;
    case DomainErrorCode.Unauthenticated:
      return 401;
    case DomainErrorCode.Forbidden:
      return 403;
    case DomainErrorCode.NotFound:
      return 404;
    case DomainErrorCode.Conflict:
      return 409;
    case DomainErrorCode.TooManyRequests:
      return 429;
    case DomainErrorCode.TimedOut:
      return 408;
    case DomainErrorCode.ExpectationFailed:
      return 417;
    case DomainErrorCode.Unavailable:
      return 503;
  }
}

/** Errors Fastify raises before a handler runs (bad JSON, body too large…) carry their own 4xx status. */
function fastifyClientError(err: unknown): { status: number; message: string } | undefined {
  const e = err as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 && typeof e.code === 'string') {
    const message = /^FST_ERR_CTP_(INVALID_JSON|EMPTY_JSON)/.test(e.code)
      ? 'invalid JSON was provided'
      : String(e.message);
    return { status: e.statusCode, message };
  }
  return undefined;
}

/**
 * SQLSTATEs of text Postgres cannot store: 22021 (a NUL byte in `text`), 22P05 (`\u0000` in `json`/`jsonb`).
 * StorableTextPipe keeps such input from the repositories; this is the net behind it (issue 12, item 5): the text
 * came from the client, so the answer is 400, never a 500.
 */
const UNSTORABLE_TEXT_STATES = new Set(['22021', '22P05']);
const UNSTORABLE_TEXT_MESSAGE = 'text must not contain NUL characters or invalid Unicode';

function isUnstorableTextError(err: unknown): boolean {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = e?.driverError?.code ?? e?.code;
  return typeof code === 'string' && UNSTORABLE_TEXT_STATES.has(code);
}

/**
 * The one place where errors become HTTP responses: `{message, errors?}` for client errors, 503 with `Retry-After`
 * while the database is unreachable, and for anything else unexpected a 500 whose body carries only a correlation
 * id that is also in the log with the stack.
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpExceptionFilter');

  /** `database` records outages; without it, unreachable-database errors still become 503, unlogged. */
  constructor(private readonly database?: DatabaseAvailability) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const [status, body, headers] = errorResponse(exception, this.logger, this.database);
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    void reply
      .status(status)
      .headers(headers ?? {})
      .header('content-type', 'application/json; charset=utf-8')
      .send(body);
  }
}

/** Maps any error to a status, body and headers; shared by the Nest filter and Fastify's own error handler. */
export function errorResponse(exception: unknown, logger: Logger, database?: DatabaseAvailability): ErrorResponse {
  if (exception instanceof DomainError) {
    const body: ErrorBody = { message: exception.message };
    if (exception.errors.length > 0) {
      body.errors = exception.errors;
    }
    return [statusOf(exception.code), body];
  }
  if (exception instanceof ResourceValidationError) {
    return [400, { message: `invalid input: ${exception.message}`, errors: exception.errors }];
  }
  if (exception instanceof VmSpecConflictError) {
    return [409, { message: exception.message }];
  }
  if (exception instanceof HttpException) {
    const response = exception.getResponse();
    if (typeof response === 'object' && response !== null && 'message' in response) {
      const { message, errors } = response as { message: unknown; errors?: ErrorBody['errors'] };
      let text = Array.isArray(message) ? message.join('; ') : String(message);
      if (/is not valid JSON/.test(text)) {
        // Fastify's wording differs by version; keep Orchard's stable message.
        text = 'invalid JSON was provided';
      }
      return [exception.getStatus(), errors ? { message: text, errors } : { message: text }];
    }
    // Fastify's own client errors (bad JSON, body too large) arrive wrapped with their code as the cause.
    const cause = fastifyClientError(exception.cause);
    return [
      exception.getStatus(),
      { message: cause?.message ?? (typeof response === 'string' ? response : exception.message) },
    ];
  }
  const clientError = fastifyClientError(exception);
  if (clientError) {
    return [clientError.status, { message: clientError.message }];
  }
  if (isUnstorableTextError(exception)) {
    return [400, { message: `invalid input: ${UNSTORABLE_TEXT_MESSAGE}` }];
  }
  // Issue 11, part 4: an outage is the database's, not a bug of ours; the availability service logs it once (not a
  // stack per request) and probes until it is back. Request handlers open no sockets but the database's (workers
  // are reached over gRPC, whose errors carry gRPC codes), so a raw socket error here is the database's.
  if (isDatabaseUnavailable(exception)) {
    database?.report(exception);
    return [
      503,
      { message: databaseUnavailableMessage(exception, database) },
      { 'retry-after': String(DATABASE_RETRY_AFTER_S) },
    ];
  }
  const correlationId = randomUUID();
  logger.error(
    `unexpected error, correlation id ${correlationId}: ${(exception as Error)?.message ?? String(exception)}`,
    (exception as Error)?.stack,
  );
  return [500, { message: `internal error; correlation id ${correlationId}`, correlationId }];
}
