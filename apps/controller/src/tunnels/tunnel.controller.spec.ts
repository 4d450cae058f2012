import { BadRequestException } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { Role, ServiceAccount } from '@grove/resources';
import type { AuthenticatedRequest } from '../common/auth/auth.guard';
import { DomainError, DomainErrorCode } from '../common/domain-error';
import { createValidationPipe } from '../common/validation';
import { PortForwardQueryDto, VmPortForwardQueryDto } from './port-forward.dto';
import { TunnelController } from './tunnel.controller';
import type { PortForwardRequest, TunnelSessionService } from './tunnel-session.service';

/** The global pipe applied to a query as Nest does it; resolves with the DTO or rejects with the 400's body. */
async function query<T>(metatype: new () => T, value: Record<string, unknown>): Promise<T> {
  return (await createValidationPipe().transform(value, { type: 'query', metatype })) as T;
}

async function rejection(metatype: new () => unknown, value: Record<string, unknown>): Promise<unknown> {
  try {
    await query(metatype, value);
  } catch (err) {
    expect(err).toBeInstanceOf(BadRequestException);
    return (err as BadRequestException).getResponse();
  }
  throw new Error('the query was accepted');
}

describe('VM port-forward query', () => {
  it('takes a port, or target=tart-guest-agent without one', async () => {
    await expect(query(VmPortForwardQueryDto, { port: '22', wait: '5' })).resolves.toMatchObject({ port: '22' });
    await expect(query(VmPortForwardQueryDto, { target: 'tart-guest-agent' })).resolves.toMatchObject({
      target: 'tart-guest-agent',
    });
  });

  it('refuses target together with port, naming both', async () => {
    expect(await rejection(VmPortForwardQueryDto, { port: '22', target: 'tart-guest-agent' })).toEqual({
      message: 'invalid input: target cannot be combined with port',
      errors: [{ field: 'target', message: 'target cannot be combined with port' }],
    });
  });

  it('refuses any other target, and neither port nor target', async () => {
    expect(await rejection(VmPortForwardQueryDto, { target: 'ssh' })).toMatchObject({
      errors: [{ field: 'target', message: 'target must be tart-guest-agent' }],
    });
    expect(await rejection(VmPortForwardQueryDto, { target: '' })).toMatchObject({
      errors: [{ field: 'target', message: 'target must be tart-guest-agent' }],
    });
    expect(await rejection(VmPortForwardQueryDto, {})).toMatchObject({
      errors: [{ field: 'port', message: 'port must be an integer from 1 to 65535' }],
    });
  });

  it('refuses host processes, which Grove does not serve, by name', async () => {
    expect(await rejection(VmPortForwardQueryDto, { target: 'tart-guest-agent', hostProcess: 'x' })).toMatchObject({
      errors: [{ field: 'hostProcess', message: 'property hostProcess should not exist' }],
    });
  });

  it('has no target on worker port-forwards', async () => {
    expect(await rejection(PortForwardQueryDto, { port: '5900', target: 'tart-guest-agent' })).toMatchObject({
      errors: [{ field: 'target', message: 'property target should not exist' }],
    });
  });
});

describe('VM port-forward roles', () => {
  const calls: PortForwardRequest[] = [];
  const sessions = {
    portForward: (req: PortForwardRequest) => {
      calls.push(req);
      return Promise.resolve();
    },
  } as unknown as TunnelSessionService;
  const controller = new TunnelController(sessions);
  const reply = { hijack: () => undefined } as unknown as FastifyReply;

  function request(roles: Role[]): AuthenticatedRequest {
    const serviceAccount: ServiceAccount = { name: 'sa', roles, createdAt: '2026-01-01T00:00:00Z' };
    return { serviceAccount, raw: {}, ip: '127.0.0.1' } as unknown as AuthenticatedRequest;
  }

  async function forward(roles: Role[], dto: Partial<VmPortForwardQueryDto>): Promise<PortForwardRequest> {
    calls.length = 0;
    await controller.vmPortForward('vm-1', dto, request(roles), reply);
    expect(calls).toHaveLength(1);
    return calls[0];
  }

  async function refusal(roles: Role[], dto: Partial<VmPortForwardQueryDto>): Promise<DomainError> {
    const err = await controller.vmPortForward('vm-1', dto as VmPortForwardQueryDto, request(roles), reply).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DomainError);
    return err as DomainError;
  }

  it('lets compute:write or compute:connect:tart-guest-agent reach the guest agent', async () => {
    for (const role of ['compute:write', 'compute:connect:tart-guest-agent'] as const) {
      expect((await forward([role], { target: 'tart-guest-agent' })).to).toEqual({ kind: 'tart-guest-agent' });
    }
  });

  it('refuses the guest agent to compute:connect and compute:read, naming the roles', async () => {
    for (const role of ['compute:connect', 'compute:read'] as const) {
      const err = await refusal([role], { target: 'tart-guest-agent' });
      expect(err.code).toBe(DomainErrorCode.Forbidden);
      expect(err.message).toBe(
        'any of the following roles must be present: compute:write, compute:connect:tart-guest-agent',
      );
    }
  });

  it('keeps ports for compute:write and compute:connect only', async () => {
    expect((await forward(['compute:connect'], { port: '22' })).to).toEqual({ kind: 'port', port: 22 });
    const err = await refusal(['compute:connect:tart-guest-agent'], { port: '22' });
    expect(err.code).toBe(DomainErrorCode.Forbidden);
    expect(err.message).toBe('any of the following roles must be present: compute:write, compute:connect');
  });
});
