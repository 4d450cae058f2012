import { ZERO_TIME } from '@grove/resources';

/** Go clients send `0001-01-01T00:00:00Z` for unset times; treat it, and anything unparsable, as absent. */
export function parseOptionalTime(value: string | undefined | null): Date | undefined {
  if (!value || value === ZERO_TIME) {
    return undefined;
  }
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || new Date(ms).getUTCFullYear() <= 1) {
    return undefined;
  }
  return new Date(ms);
}
