import { Injectable, Logger } from '@nestjs/common';
import type { ServiceAccount } from '@grove/resources';
import type { AuthContext } from 'ssh2';
import { hasRoles } from '../common/auth/auth.guard';
import { LoginThrottle } from '../common/auth/login-throttle';
import type { AuthRule } from '../common/auth/roles.decorator';
import { ServiceAccountSshKeyService } from '../service-accounts/service-account-ssh-key.service';
import { ServiceAccountService } from '../service-accounts/service-account.service';
import { parsePublicKeyBlob } from '../service-accounts/ssh-public-key';
import { parseSshLogin, type SshLogin } from './ssh-login';

/** The roles that open the gateway, as in Orchard (orchard.md §6.6): either one. */
export const SSH_GATEWAY_RULE: AuthRule = { kind: 'any', roles: ['compute:write', 'compute:connect'] };

/** The methods the gateway offers; clients try them in their own order (OpenSSH: keys first). */
const METHODS: ('publickey' | 'password')[] = ['publickey', 'password'];

/** Who is logged in on one SSH connection. */
export interface SshPrincipal {
  account: ServiceAccount;
  method: 'password' | 'publickey';
  login: SshLogin;
  remoteAddress: string;
}

/**
 * Checks SSH logins: user = service account (optionally `+vm`), password = its token (the API's constant-time
 * check), or a public key attached to the account with a valid signature. The account needs `compute:write` or
 * `compute:connect`. Failed password logins count against the client address like failed API logins do.
 */
@Injectable()
export class SshGatewayAuthenticator {
  private readonly logger = new Logger('SshGateway');
  private readonly throttle = new LoginThrottle();

  constructor(
    private readonly accounts: ServiceAccountService,
    private readonly keys: ServiceAccountSshKeyService,
  ) {}

  /**
   * Answers one authentication request. `admit` gets the principal just before the login is accepted (ssh2 emits
   * `ready` synchronously within the acceptance).
   */
  async handle(ctx: AuthContext, remoteAddress: string, admit: (principal: SshPrincipal) => void): Promise<void> {
    const login = parseSshLogin(ctx.username);
    if (!login || (ctx.method !== 'password' && ctx.method !== 'publickey')) {
      ctx.reject(METHODS);
      return;
    }
    if (ctx.method === 'password') {
      if (this.throttle.retryAfterMs(remoteAddress) > 0) {
        this.logger.warn(`SSH login of "${login.account}" from ${remoteAddress} refused: too many failed logins`);
        ctx.reject(METHODS);
        return;
      }
      const account = await this.accounts.authenticate(login.account, ctx.password);
      if (!account) {
        this.throttle.recordFailure(remoteAddress);
        this.logger.warn(`SSH login of "${login.account}" from ${remoteAddress} failed: wrong name or token`);
        ctx.reject(METHODS);
        return;
      }
      this.admit(ctx, { account, method: 'password', login, remoteAddress }, admit);
      return;
    }
    const account = await this.keys.accountForKey(login.account, ctx.key.data);
    if (!account) {
      ctx.reject(METHODS);
      return;
    }
    if (!ctx.signature || !ctx.blob) {
      // The client asks whether this key would do, before signing with it (RFC 4252 §7).
      if (hasRoles(account, SSH_GATEWAY_RULE)) {
        ctx.accept();
      } else {
        this.refuseRoles(ctx, account, remoteAddress);
      }
      return;
    }
    const key = parsePublicKeyBlob(ctx.key.data);
    if (!key || !key.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) {
      this.logger.warn(`SSH login of "${login.account}" from ${remoteAddress} failed: bad key signature`);
      ctx.reject(METHODS);
      return;
    }
    this.admit(ctx, { account, method: 'publickey', login, remoteAddress }, admit);
  }

  private admit(ctx: AuthContext, principal: SshPrincipal, admit: (principal: SshPrincipal) => void): void {
    if (!hasRoles(principal.account, SSH_GATEWAY_RULE)) {
      this.refuseRoles(ctx, principal.account, principal.remoteAddress);
      return;
    }
    admit(principal);
    ctx.accept();
  }

  private refuseRoles(ctx: AuthContext, account: ServiceAccount, remoteAddress: string): void {
    this.logger.warn(
      `SSH login of "${account.name}" from ${remoteAddress} refused: the account has neither compute:write nor ` +
        'compute:connect',
    );
    ctx.reject(METHODS);
  }
}
