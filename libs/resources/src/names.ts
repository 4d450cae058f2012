import type { FieldError } from './errors';

const SIMPLE_NAME = /^[A-Za-z0-9:\-_.]+$/;
const NEXT_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Validates a VM, worker or service-account name with Orchard's enforced rule: only `[A-Za-z0-9]` and `: - _ .`
 * (orchard.md §2.10). Returns the problem, or undefined when the name is fine.
 */
export function validateName(field: string, name: string | undefined | null): FieldError | undefined {
  if (name === undefined || name === null || name === '') {
    return { field, message: 'must not be empty' };
  }
  if (!SIMPLE_NAME.test(name)) {
    return { field, message: 'contains restricted characters, please only use [A-Za-z0-9:-_.]' };
  }
  return undefined;
}

/**
 * Orchard's announced stricter rule (≤ 63 characters of `[a-z0-9-]`, starting and ending alphanumeric). Only a
 * warning today: `grove create vm` prints it but the API accepts the name.
 */
export function nameFollowsFutureRule(name: string): boolean {
  return NEXT_NAME.test(name);
}
