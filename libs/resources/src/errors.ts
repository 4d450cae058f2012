/** One problem with one input field. `field` is the JSON path of the field (`hostDirs[0].path`). */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * One readable sentence for a list of field errors. Messages that already start with the field's name (as
 * class-validator's do) are not prefixed again.
 */
export function describeFieldErrors(errors: readonly FieldError[]): string {
  return errors
    .map((e) => {
      const last =
        e.field
          .split(/[.[\]]/)
          .filter(Boolean)
          .pop() ?? e.field;
      return e.message.startsWith(last) ? e.message : `${e.field}: ${e.message}`;
    })
    .join('; ');
}

/** Thrown by the rules of this library when input breaks them; carries every problem found, not just the first. */
export class ResourceValidationError extends Error {
  constructor(readonly errors: FieldError[]) {
    super(describeFieldErrors(errors));
    this.name = 'ResourceValidationError';
  }
}
