import { GROVE_VERSION } from '@grove/resources';

/** The CLI's version: Grove's single release number. */
export function cliVersion(): string {
  return GROVE_VERSION;
}
