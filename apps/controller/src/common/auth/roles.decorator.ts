import { SetMetadata } from '@nestjs/common';
import type { Role } from '@grove/resources';

export const AUTH_RULE = 'grove:auth-rule';

/** How an endpoint is protected. Endpoints without a rule require an authenticated service account. */
export type AuthRule = { kind: 'public' } | { kind: 'all'; roles: Role[] } | { kind: 'any'; roles: Role[] };

/** Reachable without credentials. */
export const Public = () => SetMetadata(AUTH_RULE, { kind: 'public' } satisfies AuthRule);

/** Every listed role is required. */
export const RequireRoles = (...roles: Role[]) => SetMetadata(AUTH_RULE, { kind: 'all', roles } satisfies AuthRule);

/** At least one of the listed roles is required. */
export const RequireAnyRole = (...roles: Role[]) => SetMetadata(AUTH_RULE, { kind: 'any', roles } satisfies AuthRule);
