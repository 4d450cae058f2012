import { QueryRunnerAlreadyReleasedError, QueryRunnerProviderAlreadyReleasedError } from 'typeorm';

/**
 * Recognises errors that mean "the database cannot be reached right now" (issue 11, part 4), as opposed to errors
 * of a query or of our own code: those become 503 with `Retry-After` instead of a 500 with a stack trace.
 */

/** Socket errors of a connection to the database (node's `code` on a system error). */
const UNREACHABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  // Name resolution failing at run time (the URL resolved when the controller started).
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/**
 * SQLSTATEs of a server that is going away or not there yet; class 08 (connection exception) is matched as a class.
 * https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
const UNREACHABLE_SQLSTATES = new Set([
  '57P01', // admin_shutdown: `pg_ctl stop/restart -m fast`, or the backend was terminated
  '57P02', // crash_shutdown: another backend crashed and the server is resetting
  '57P03', // cannot_connect_now: the server is starting up or shutting down
]);

/** pg and pg-pool raise these as plain `Error`s without a code; their texts are stable across pg 8.x. */
const UNREACHABLE_MESSAGES = new Set([
  // pg: the socket closed while a query was running or the client was idle.
  'Connection terminated unexpectedly',
  // pg-pool: the connect of a new pool client exceeded `connectionTimeoutMillis`.
  'Connection terminated due to connection timeout',
  // pg: the connect of a client exceeded `connectionTimeoutMillis`.
  'timeout expired',
  // pg: a query on a client whose connection already failed.
  'Client has encountered a connection error and is not queryable',
]);

/**
 * pg-pool: no client of the pool became free within `connectionTimeoutMillis`. Every connection was in use, by queries
 * (the pool is too small for the load: the database answers) or by connects that hang (the database is unreachable,
 * and those connects fail with an error of their own); which of the two, only a connection outside the pool can tell.
 */
const POOL_WAIT_TIMEOUT_MESSAGE = 'timeout exceeded when trying to connect';

/** How deep to follow `cause`, `driverError` and `errors` (they could form a cycle). */
const MAX_DEPTH = 5;

interface ErrorFields {
  code?: unknown;
  syscall?: unknown;
  severity?: unknown;
  message?: unknown;
  cause?: unknown;
  driverError?: unknown;
  errors?: unknown;
}

function isUnreachableItself(err: ErrorFields): boolean {
  // TypeORM releases a query runner whose connection emits 'error' (a connection terminated while idle in a
  // transaction, between two of its queries), so the transaction's next query raises one of these instead of the
  // connection's error, which went to the event. Our code keeps no runner beyond its transaction; a bug that did
  // would be answered 503 rather than 500, and logged at debug level only, as the probe would find the database up.
  if (err instanceof QueryRunnerAlreadyReleasedError || err instanceof QueryRunnerProviderAlreadyReleasedError) {
    return true;
  }
  const code = typeof err.code === 'string' ? err.code : undefined;
  // pg's DatabaseError (and TypeORM's QueryFailedError, which copies its fields) carries a severity; a SQLSTATE is
  // five characters, so is "EPIPE": the severity tells them apart.
  if (code && typeof err.severity === 'string') {
    return code.startsWith('08') || UNREACHABLE_SQLSTATES.has(code);
  }
  if (code && UNREACHABLE_SOCKET_CODES.has(code)) {
    return true;
  }
  // A Unix socket that is not there: the server is down (or the embedded database's socket is gone).
  if (code === 'ENOENT' && err.syscall === 'connect') {
    return true;
  }
  return typeof err.message === 'string' && UNREACHABLE_MESSAGES.has(err.message);
}

/** Whether `err` or what it wraps (TypeORM's `driverError`, `cause`, an `AggregateError`'s `errors`) matches. */
function matches(err: unknown, test: (fields: ErrorFields) => boolean, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > MAX_DEPTH) {
    return false;
  }
  const fields = err as ErrorFields;
  if (test(fields)) {
    return true;
  }
  const nested: unknown[] = [fields.driverError, fields.cause];
  if (Array.isArray(fields.errors)) {
    nested.push(...(fields.errors as unknown[]));
  }
  return nested.some((inner) => inner !== err && matches(inner, test, depth + 1));
}

/**
 * Whether `err` (or what it wraps: TypeORM's `driverError`, an `Error`'s `cause`, an `AggregateError`'s `errors`
 * as node raises for a host with several addresses) says that the database is unreachable: the connection was
 * refused, reset or timed out, or the server is shutting down, restarting or starting up.
 */
export function isDatabaseUnreachable(err: unknown): boolean {
  return matches(err, isUnreachableItself);
}

/** Whether `err` says that no pooled connection became free in time (`POOL_WAIT_TIMEOUT_MESSAGE`). */
export function isDatabaseBusy(err: unknown): boolean {
  return matches(err, (fields) => fields.message === POOL_WAIT_TIMEOUT_MESSAGE);
}

/** Whether a request that met `err` cannot be served now for want of the database, unreachable or busy: 503. */
export function isDatabaseUnavailable(err: unknown): boolean {
  return isDatabaseUnreachable(err) || isDatabaseBusy(err);
}

/** One line about an unreachable-database error, for the log: the message, and the code when it adds anything. */
export function describeDatabaseError(err: unknown): string {
  const { message, code } = (typeof err === 'object' && err !== null ? err : {}) as ErrorFields;
  const text = typeof message === 'string' && message !== '' ? message : String(err);
  return typeof code === 'string' && !text.includes(code) ? `${text} (${code})` : text;
}
