import { describeFieldErrors, type FieldError } from '@grove/resources';

/** What went wrong, independent of the transport; each transport maps these codes in one place. */
export enum DomainErrorCode {
  InvalidInput = 'invalid_input',
  NotFound = 'not_found',
  Conflict = 'conflict',
  Unauthenticated = 'unauthenticated',
  Forbidden = 'forbidden',
  TooManyRequests = 'too_many_requests',
  /** The thing waited for did not happen within the request's `wait` (408). */
  TimedOut = 'timed_out',
  /** The request cannot succeed in the resource's current state, e.g. a failed VM (417, as Orchard). */
  ExpectationFailed = 'expectation_failed',
  /** A worker needed for the request cannot be reached (503). */
  Unavailable = 'unavailable',
}

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly errors: FieldError[] = [],
  ) {
    super(message);
    this.name = 'DomainError';
  }

  static notFound(what: string): DomainError {
    return new DomainError(DomainErrorCode.NotFound, `${what} not found`);
  }

  static conflict(message: string): DomainError {
    return new DomainError(DomainErrorCode.Conflict, message);
  }

  static invalid(errors: FieldError[]): DomainError {
    return new DomainError(DomainErrorCode.InvalidInput, `invalid input: ${describeFieldErrors(errors)}`, errors);
  }
}
