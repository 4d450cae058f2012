import { registerDecorator, type ValidationOptions } from 'class-validator';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A map of resource name to a non-negative integer amount. */
export function IsResourceMap(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isResourceMap',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: `${String(propertyName)} must be an object mapping names to non-negative integers`,
        ...options,
      },
      validator: {
        validate: (value: unknown) =>
          isPlainObject(value) &&
          Object.values(value).every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0),
      },
    });
}

/** A map of label name to string value. */
export function IsLabelMap(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isLabelMap',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: `${String(propertyName)} must be an object mapping names to strings`, ...options },
      validator: {
        validate: (value: unknown) => isPlainObject(value) && Object.values(value).every((v) => typeof v === 'string'),
      },
    });
}
