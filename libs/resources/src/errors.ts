/** One problem with one input field. `field` is the JSON path of the field (`hostDirs[0].path`). */
export interface FieldError {
  field: string;
  message: string;
}

/** Thrown by the rules of this library when input breaks them; carries every problem found, not just the first. */
export class ResourceValidationError extends Error {
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.field}: ${e.message}`).join('; '));
    this.name = 'ResourceValidationError';
  }
}
