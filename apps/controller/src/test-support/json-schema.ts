/**
 * A small JSON Schema subset for the contract test (issue 12): enough to state a resource's fields, their types,
 * enums and whether null is allowed. Every schema is non-nullable unless it says `nullable: true`.
 */
export type JsonSchema = (
  | { type: 'string'; enum?: readonly string[]; format?: 'date-time' | 'uuid' }
  | { type: 'integer'; minimum?: number }
  | { type: 'boolean' }
  | { type: 'array'; items: JsonSchema }
  | {
      type: 'object';
      properties?: Record<string, JsonSchema>;
      required?: readonly string[];
      /** false: no other property; a schema: every other property's value (a map); absent: anything. */
      additionalProperties?: boolean | JsonSchema;
    }
) & { nullable?: boolean };

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Every way `value` departs from `schema`, as `path: problem` lines; empty when it conforms. */
export function validateJson(schema: JsonSchema, value: unknown, path = '$'): string[] {
  if (value === null) {
    return schema.nullable ? [] : [`${path}: is null`];
  }
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') {
        return [`${path}: expected a string, got ${JSON.stringify(value)}`];
      }
      if (schema.enum && !schema.enum.includes(value)) {
        return [`${path}: ${JSON.stringify(value)} is not one of ${schema.enum.join(', ')}`];
      }
      if (schema.format === 'date-time' && !DATE_TIME.test(value)) {
        return [`${path}: ${JSON.stringify(value)} is not an RFC 3339 time`];
      }
      if (schema.format === 'uuid' && !UUID.test(value)) {
        return [`${path}: ${JSON.stringify(value)} is not a UUID`];
      }
      return [];
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        return [`${path}: expected an integer, got ${JSON.stringify(value)}`];
      }
      return schema.minimum !== undefined && value < schema.minimum ? [`${path}: below ${schema.minimum}`] : [];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${path}: expected a boolean, got ${JSON.stringify(value)}`];
    case 'array':
      if (!Array.isArray(value)) {
        return [`${path}: expected an array, got ${JSON.stringify(value)}`];
      }
      return value.flatMap((item, i) => validateJson(schema.items, item, `${path}[${i}]`));
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) {
        return [`${path}: expected an object, got ${JSON.stringify(value)}`];
      }
      const record = value as Record<string, unknown>;
      const problems: string[] = [];
      for (const key of schema.required ?? []) {
        if (!(key in record)) {
          problems.push(`${path}: missing ${key}`);
        }
      }
      for (const [key, item] of Object.entries(record)) {
        const property = schema.properties?.[key];
        if (property) {
          problems.push(...validateJson(property, item, `${path}.${key}`));
        } else if (schema.additionalProperties === false) {
          problems.push(`${path}: unexpected property ${key}`);
        } else if (typeof schema.additionalProperties === 'object') {
          problems.push(...validateJson(schema.additionalProperties, item, `${path}.${key}`));
        }
      }
      return problems;
    }
  }
}
