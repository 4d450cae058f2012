import { BadRequestException } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from '@grove/resources';
import { hasRoles, missingRolesMessage, type AuthenticatedRequest } from '../common/auth/auth.guard';
import { createValidationPipe } from '../common/validation';
import { PortForwardQueryDto, VmPortForwardQueryDto } from './port-forward.dto';
import { MetricsRegistry } from '../metrics/metrics-registry';
import { SessionMetrics } from '../metrics/session-metrics';
import { TunnelController, vmPortForwardRule } from './tunnel.controller';
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

  it('takes hostProcess=NAME without a port', async () => {
    await expect(query(VmPortForwardQueryDto, { hostProcess: 'echo', wait: '0' })).resolves.toMatchObject({
      hostProcess: 'echo',
    });
  });

  it.each<[Record<string, unknown>, { field: string; message: string }[]]>([
    [{ port: '22', target: 'tart-guest-agent' }, [{ field: 'target', message: 'target cannot be combined with port' }]],
    [
      { port: '22', hostProcess: 'echo' },
      [{ field: 'hostProcess', message: 'hostProcess cannot be combined with port' }],
    ],
    [
      { target: 'tart-guest-agent', hostProcess: 'echo' },
      [
        { field: 'target', message: 'target cannot be combined with hostProcess' },
        { field: 'hostProcess', message: 'hostProcess cannot be combined with target' },
      ],
    ],
  ])('refuses %p, naming what cannot be combined', async (value, errors) => {
    expect(await rejection(VmPortForwardQueryDto, value)).toEqual({
      message: `invalid input: ${errors.map((e) => e.message).join('; ')}`,
      errors,
    });
  });

  it('refuses any other target, an empty hostProcess, and none of port, target, hostProcess', async () => {
    expect(await rejection(VmPortForwardQueryDto, { target: 'ssh' })).toMatchObject({
      errors: [{ field: 'target', message: 'target must be tart-guest-agent' }],
    });
    expect(await rejection(VmPortForwardQueryDto, { target: '' })).toMatchObject({
      errors: [{ field: 'target', message: 'target must be tart-guest-agent' }],
    });
    expect(await rejection(VmPortForwardQueryDto, { hostProcess: '' })).toMatchObject({
      errors: [{ field: 'hostProcess', message: 'hostProcess must not be empty' }],
    });
    expect(await rejection(VmPortForwardQueryDto, { hostProcess: ['a', 'b'] })).toMatchObject({
      errors: [{ field: 'hostProcess', message: 'hostProcess must be a string' }],
    });
    expect(await rejection(VmPortForwardQueryDto, {})).toMatchObject({
      errors: [{ field: 'port', message: 'port must be an integer from 1 to 65535' }],
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
  const controller = new TunnelController(sessions, new SessionMetrics(new MetricsRegistry()));
  const reply = { hijack: () => undefined } as unknown as FastifyReply;
  const account = (roles: Role[]) => ({ roles });

  function rule(q: Record<string, unknown>) {
    return vmPortForwardRule({ query: q } as FastifyRequest);
  }

  /** Whether an account with `roles` gets through, and the refusal's message when not. */
  function check(roles: Role[], q: Record<string, unknown>): string | true {
    const r = rule(q);
    return hasRoles(account(roles), r) || missingRolesMessage(r);
  }

  it('lets compute:write or compute:connect:tart-guest-agent reach the guest agent', () => {
    expect(check(['compute:write'], { target: 'tart-guest-agent' })).toBe(true);
    expect(check(['compute:connect:tart-guest-agent'], { target: 'tart-guest-agent' })).toBe(true);
  });

  it('refuses the guest agent to compute:connect and compute:read, listing only roles that would do', () => {
    for (const role of ['compute:connect', 'compute:read'] as const) {
      expect(check([role], { target: 'tart-guest-agent' })).toBe(
        'any of the following roles must be present: compute:write, compute:connect:tart-guest-agent',
      );
    }
  });

  it('keeps ports for compute:write and compute:connect only', () => {
    expect(check(['compute:connect'], { port: '22' })).toBe(true);
    expect(check(['compute:connect:tart-guest-agent'], { port: '22' })).toBe(
      'any of the following roles must be present: compute:write, compute:connect',
    );
  });

  it('needs host-process:connect besides compute:write or compute:connect for a host process, and says both', () => {
    expect(check(['host-process:connect', 'compute:connect'], { hostProcess: 'echo' })).toBe(true);
    expect(check(['host-process:connect', 'compute:write'], { hostProcess: 'echo' })).toBe(true);
    const both =
      'all of the following roles must be present: host-process:connect, and any of the following: compute:write, ' +
      'compute:connect';
    for (const roles of [
      ['compute:write'],
      ['compute:connect'],
      ['host-process:connect'],
      ['compute:read'],
    ] as Role[][]) {
      expect(check(roles, { hostProcess: 'echo' })).toBe(both);
    }
  });

  it('hands the destination the query names to the session', async () => {
    const forward = async (dto: Partial<VmPortForwardQueryDto>) => {
      calls.length = 0;
      const req = {
        serviceAccount: { name: 'sa', roles: [] },
        raw: {},
        ip: '127.0.0.1',
      } as unknown as AuthenticatedRequest;
      await controller.vmPortForward('vm-1', dto, req, reply);
      return calls[0].to;
    };
    expect(await forward({ port: '22' })).toEqual({ kind: 'port', port: 22 });
    expect(await forward({ target: 'tart-guest-agent' })).toEqual({ kind: 'tart-guest-agent' });
    expect(await forward({ hostProcess: 'echo' })).toEqual({ kind: 'host-process', name: 'echo' });
  });
});
