import { STATUS_CODES, type IncomingHttpHeaders } from 'node:http';
import type { FieldError } from '@grove/resources';

/**
 * The controller answered with a non-2xx status. `message` is the controller's own `message` (or the HTTP reason
 * phrase when the body has none), `errors` its per-field problems; `userMessage` is the text to show a person.
 */
export class ApiError extends Error {
  /** `controller answered 400: <message>`, followed by every field error the message does not already name. */
  readonly userMessage: string;

  constructor(
    readonly status: number,
    message: string,
    readonly errors: FieldError[] = [],
    /**
     * How long the controller asked the client to wait before trying again (its `Retry-After` header, in seconds),
     * e.g. on a 503 while its database is down; undefined when it sent none or one that does not parse.
     */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
    this.userMessage = describeApiError(status, message, errors);
  }

  /**
   * Builds the error from a response body that may be empty, JSON of any shape, or not JSON at all, and from the
   * response's headers when given (for `Retry-After`).
   */
  static fromResponse(status: number, body: string, headers: IncomingHttpHeaders = {}): ApiError {
    const retryAfterSeconds = parseRetryAfter(headers['retry-after']);
    let parsed: unknown;
    try {
      parsed = body.trim() === '' ? undefined : JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    if (isRecord(parsed) && typeof parsed['message'] === 'string' && parsed['message'] !== '') {
      return new ApiError(status, parsed['message'], fieldErrorsOf(parsed['errors']), retryAfterSeconds);
    }
    const text = body.trim();
    // A proxy's HTML error page is not worth printing whole; its first line usually says enough.
    const fallback = text !== '' && parsed === undefined ? firstLine(text) : (STATUS_CODES[status] ?? `HTTP ${status}`);
    return new ApiError(status, fallback, [], retryAfterSeconds);
  }
}

/**
 * The seconds a `Retry-After` header asks for (RFC 9110 §10.2.3): either delay-seconds or an HTTP date, which is
 * turned into the seconds from `now` until then (0 when it has passed). Undefined when absent or malformed.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  const text = value?.trim();
  if (text === undefined || text === '') {
    return undefined;
  }
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    return Number.isSafeInteger(seconds) ? seconds : undefined;
  }
  // Every HTTP-date form starts with a day name; Date.parse alone would also take "-1" or "1.5" for dates.
  const at = /^[A-Za-z]{3}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) {
    return undefined;
  }
  return Math.max(0, Math.ceil((at - now) / 1000));
}

function describeApiError(status: number, message: string, errors: FieldError[]): string {
  // The controller's summary already names each problem (with or without a "field: " prefix).
  const unnamed = errors.filter((e) => !message.includes(e.message));
  const lines = [`controller answered ${status}: ${message}`, ...unnamed.map((e) => `  ${e.field}: ${e.message}`)];
  return lines.join('\n');
}

function fieldErrorsOf(value: unknown): FieldError[] {
  if (!Array.isArray(value)) {
    return [];
  }
  return value
    .filter(isRecord)
    .map((e) => ({ field: textOf(e['field']), message: textOf(e['message']) }))
    .filter((e) => e.message !== '');
}

function textOf(value: unknown): string {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function firstLine(text: string): string {
  const line = text.split('\n', 1)[0];
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/** Why a request never got an HTTP answer. */
export type ConnectionErrorKind = 'unreachable' | 'certificate' | 'timeout' | 'protocol';

/** The controller could not be reached, or its TLS certificate was refused, or it did not answer in time. */
export class ControllerConnectionError extends Error {
  constructor(
    readonly kind: ConnectionErrorKind,
    readonly url: string,
    message: string,
    readonly code: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ControllerConnectionError';
  }
}

/** OpenSSL / Node codes of a certificate that failed verification. */
const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Turns a socket-level error into a message that names the controller URL and, where it helps, what to do. */
export function connectionError(err: unknown, url: string, pinned: boolean): ControllerConnectionError {
  if (err instanceof ControllerConnectionError) {
    return err;
  }
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  // Not `instanceof Error`: errors of node built-ins may come from another realm (Jest's sandbox, vm contexts).
  const reason = typeof e?.message === 'string' ? e.message : String(err);
  if (code && CERTIFICATE_CODES.has(code)) {
    const text = pinned
      ? `the controller at ${url} presented a certificate that does not match the pinned certificate (${reason}); ` +
        `if the controller's certificate changed on purpose, run "grove context create" again`
      : `the controller at ${url} presented a certificate that this system does not trust (${reason}); ` +
        `run "grove context create" to check its fingerprint and pin it`;
    return new ControllerConnectionError('certificate', url, text, code, { cause: err });
  }
  if (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number/i.test(reason)) {
    return new ControllerConnectionError(
      'protocol',
      url,
      `cannot talk TLS to the controller at ${url}: ${reason}; if it runs with --insecure-no-tls, use an http:// URL`,
      code,
      { cause: err },
    );
  }
  if (code?.startsWith('HPE_') && url.startsWith('http:')) {
    return new ControllerConnectionError(
      'protocol',
      url,
      `the controller at ${url} did not answer in HTTP: ${reason}; if it uses TLS, use an https:// URL`,
      code,
      { cause: err },
    );
  }
  return new ControllerConnectionError('unreachable', url, `cannot reach the controller at ${url}: ${reason}`, code, {
    cause: err,
  });
}
