/** One problem with one input field. `field` is the JSON path of the field (`hostDirs[0].path`). */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * One readable sentence for a list of field errors. Messages that already start with the field's name (as
 * class-validator's do: `name should not be empty`) get the full path in place of that name
 * (`hostDirs[1].name should not be empty`), so that nested problems still say where they are; other messages are
 * prefixed with the path (`hostDirs[0].path: must not be empty`).
 */
export function describeFieldErrors(errors: readonly FieldError[]): string {
  return errors
    .map((e) => {
      if (e.field === '') {
        return e.message;
      }
      const last =
        e.field
          .split(/[.[\]]/)
          .filter(Boolean)
          .pop() ?? e.field;
      return e.message.startsWith(`${last} `)
        ? `${e.field}${e.message.slice(last.length)}`
        : `${e.field}: ${e.message}`;
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
