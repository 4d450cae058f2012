import type { Role } from './enums';

/**
 * A service account. `token` is present only in the responses that create it or set a new token: Grove stores
 * tokens hashed and never returns them again (a deliberate deviation, docs/api-compatibility.md).
 */
export interface ServiceAccount {
  name: string;
  createdAt: string;
  roles: Role[];
  token?: string;
}
