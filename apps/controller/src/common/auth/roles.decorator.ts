import { SetMetadata } from '@nestjs/common';
import type { Role } from '@grove/resources';
import type { FastifyRequest } from 'fastify';
import type { ControllerConfig } from '../../infra/config/controller-config';

export const AUTH_RULE = 'grove:auth-rule';
export const AUTH_RULE_PER_REQUEST = 'grove:auth-rule-per-request';
export const AUTH_PUBLIC_WHEN = 'grove:auth-public-when';

/** How an endpoint is protected. Endpoints without a rule require an authenticated service account. */
export type AuthRule =
  | { kind: 'public' }
  | { kind: 'all'; roles: Role[] }
  | { kind: 'any'; roles: Role[] }
  /** Every role of `all`, and one of `any` (e.g. `host-process:connect` besides `compute:write|compute:connect`). */
  | { kind: 'all-and-any'; all: Role[]; any: Role[] };

/** The rule of one request, from what it asks for (its query or body as received, before validation). */
export type AuthRuleResolver = (request: FastifyRequest) => Exclude<AuthRule, { kind: 'public' }>;

/** Reachable without credentials. */
export const Public = () => SetMetadata(AUTH_RULE, { kind: 'public' } satisfies AuthRule);

/**
 * Reachable without credentials when the controller's configuration says so (`GET /metrics` with `--metrics-public`);
 * otherwise the endpoint's other rule applies. Read per app, since one process may run controllers configured apart.
 */
export const PublicWhen = (when: (config: ControllerConfig) => boolean) => SetMetadata(AUTH_PUBLIC_WHEN, when);

/** Every listed role is required. */
export const RequireRoles = (...roles: Role[]) => SetMetadata(AUTH_RULE, { kind: 'all', roles } satisfies AuthRule);

/** At least one of the listed roles is required. */
export const RequireAnyRole = (...roles: Role[]) => SetMetadata(AUTH_RULE, { kind: 'any', roles } satisfies AuthRule);

/**
 * The roles depend on what the request asks for (orchard-2026.md §1.2.3, §1.2.4: a port-forward to the guest agent or
 * to a host process, a VM with host processes): the guard resolves the rule per request, so that a refusal lists
 * exactly the roles that would have let this request through.
 */
export const RequireRolesPerRequest = (resolve: AuthRuleResolver) => SetMetadata(AUTH_RULE_PER_REQUEST, resolve);
