import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Role, ServiceAccount } from '@grove/resources';
import type { FastifyRequest } from 'fastify';
import { CONTROLLER_CONFIG, type ControllerConfig } from '../../infra/config/controller-config';
import { ServiceAccountService } from '../../service-accounts/service-account.service';
import { DomainError, DomainErrorCode } from '../domain-error';
import { LoginThrottle } from './login-throttle';
import { parseCredentialProtocol } from './websocket-credentials';
import {
  AUTH_PUBLIC_WHEN,
  AUTH_RULE,
  AUTH_RULE_PER_REQUEST,
  type AuthRule,
  type AuthRuleResolver,
} from './roles.decorator';

/** The authenticated service account, attached to the request by the guard. */
export interface AuthenticatedRequest extends FastifyRequest {
  serviceAccount?: ServiceAccount;
}

/** Parses `Authorization: Basic base64(name:token)`; undefined when the header is absent or malformed. */
export function parseBasicAuth(header: string | undefined): { name: string; token: string } | undefined {
  if (!header) {
    return undefined;
  }
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) {
    return undefined;
  }
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const idx = decoded.indexOf(':');
  if (idx < 0) {
    return undefined;
  }
  return { name: decoded.slice(0, idx), token: decoded.slice(idx + 1) };
}

/**
 * The request's credentials: its Authorization header, or for a WebSocket handshake without one the console's
 * `grove.basic.*` subprotocol (browsers cannot set headers on WebSockets).
 */
function requestCredentials(request: FastifyRequest): { name: string; token: string } | undefined {
  if (request.headers.authorization !== undefined) {
    return parseBasicAuth(request.headers.authorization);
  }
  if (request.headers.upgrade?.toLowerCase() !== 'websocket') {
    return undefined;
  }
  return parseCredentialProtocol(request.headers['sec-websocket-protocol']);
}

/**
 * Missing roles get Orchard's message text, but with 403 instead of Orchard's 401 (docs/api-compatibility.md); a rule
 * needing one role besides one of several names both.
 */
export function missingRolesMessage(rule: Exclude<AuthRule, { kind: 'public' }>): string {
  switch (rule.kind) {
    case 'all':
    case 'any':
      return `${rule.kind} of the following roles must be present: ${rule.roles.join(', ')}`;
    case 'all-and-any':
      return (
        `all of the following roles must be present: ${rule.all.join(', ')}, ` +
        `and any of the following: ${rule.any.join(', ')}`
      );
  }
}

export function hasRoles(account: Pick<ServiceAccount, 'roles'>, rule: AuthRule): boolean {
  const has = (r: Role) => account.roles.includes(r);
  switch (rule.kind) {
    case 'public':
      return true;
    case 'all':
      return rule.roles.every(has);
    case 'any':
      return rule.roles.some(has);
    case 'all-and-any':
      return rule.all.every(has) && rule.any.some(has);
  }
}

/**
 * Global guard: HTTP Basic with service-account name and token. Bad credentials are always rejected (401), unlike
 * Orchard, which lets some requests through unauthenticated; every endpoint needs an account unless marked public.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly throttle: LoginThrottle,
    private readonly reflector: Reflector,
    private readonly serviceAccounts: ServiceAccountService,
    @Inject(CONTROLLER_CONFIG) private readonly config: ControllerConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    const staticRule = this.reflector.getAllAndOverride<AuthRule | undefined>(AUTH_RULE, targets);
    const resolve = this.reflector.getAllAndOverride<AuthRuleResolver | undefined>(AUTH_RULE_PER_REQUEST, targets);
    const publicWhen = this.reflector.getAllAndOverride<((config: ControllerConfig) => boolean) | undefined>(
      AUTH_PUBLIC_WHEN,
      targets,
    );
    if ((staticRule?.kind === 'public' && !resolve) || publicWhen?.(this.config)) {
      return true;
    }
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const credentials = requestCredentials(request);
    if (!credentials) {
      throw new DomainError(
        DomainErrorCode.Unauthenticated,
        'authentication required: use HTTP Basic with a service account name and token',
      );
    }
    const address = request.ip;
    const wait = this.throttle.retryAfterMs(address);
    if (wait > 0) {
      throw new DomainError(
        DomainErrorCode.TooManyRequests,
        `too many failed logins from ${address}; try again in ${Math.ceil(wait / 1000)} s`,
      );
    }
    const account = await this.serviceAccounts.authenticate(credentials.name, credentials.token);
    if (!account) {
      this.throttle.recordFailure(address);
      throw new DomainError(DomainErrorCode.Unauthenticated, 'invalid service account name or token');
    }
    request.serviceAccount = account;
    const rule = resolve ? resolve(request) : staticRule;
    if (rule && rule.kind !== 'public' && !hasRoles(account, rule)) {
      throw new DomainError(DomainErrorCode.Forbidden, missingRolesMessage(rule));
    }
    return true;
  }
}
