import { BadRequestException, ValidationPipe, type ValidationError } from '@nestjs/common';
import { describeFieldErrors, type FieldError } from '@grove/resources';

/** Flattens class-validator's tree into `{field: "hostDirs[0].path", message}` entries. */
export function flattenValidationErrors(errors: ValidationError[], prefix = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const error of errors) {
    const isIndex = /^\d+$/.test(error.property);
    const field =
      prefix === '' ? error.property : isIndex ? `${prefix}[${error.property}]` : `${prefix}.${error.property}`;
    for (const message of Object.values(error.constraints ?? {})) {
      out.push({ field, message });
    }
    out.push(...flattenValidationErrors(error.children ?? [], field));
  }
  return out;
}

/** The global pipe: unknown fields are rejected, every bad field is listed (STYLE.md "Validation and errors"). */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const fieldErrors = flattenValidationErrors(errors);
      return new BadRequestException({
        message: `invalid input: ${describeFieldErrors(fieldErrors)}`,
        errors: fieldErrors,
      });
    },
  });
}
