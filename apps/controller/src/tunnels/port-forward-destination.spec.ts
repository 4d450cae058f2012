import { decodeTunnelFrame, encodeTunnelFrame } from '@grove/proto';
import type { Vm } from '@grove/resources';
import { DomainError, DomainErrorCode } from '../common/domain-error';
import {
  auditFields,
  checkDestinationDeclared,
  checkWorkerCapability,
  openFrame,
  type PortForwardDestination,
} from './port-forward-destination';

const vm = { name: 'web', hostProcesses: [{ name: 'echo', program: 'echo-server' }] } as Vm;
const echo: PortForwardDestination = { kind: 'host-process', name: 'echo' };

function refusal(check: () => void): DomainError {
  try {
    check();
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return err as DomainError;
  }
  throw new Error('expected a refusal');
}

describe('port-forward destinations', () => {
  it('knows the host processes a VM declares (404 for others, Orchard’s words)', () => {
    expect(() => checkDestinationDeclared(vm, echo)).not.toThrow();
    expect(() =>
      checkDestinationDeclared({ ...vm, hostProcesses: undefined }, { kind: 'port', port: 22 }),
    ).not.toThrow();
    const err = refusal(() => checkDestinationDeclared(vm, { kind: 'host-process', name: 'proxy' }));
    expect(err.code).toBe(DomainErrorCode.NotFound);
    expect(err.message).toBe('host process "proxy" is not declared on VM "web"');
    expect(refusal(() => checkDestinationDeclared({ ...vm, hostProcesses: undefined }, echo)).code).toBe(
      DomainErrorCode.NotFound,
    );
  });

  it('needs the worker capability of the destination (503 naming it), none for a port', () => {
    const old = { name: 'w1', capabilities: ['tunnel-guest-agent'] };
    expect(() => checkWorkerCapability(old, 'web', { kind: 'port', port: 22 })).not.toThrow();
    expect(() => checkWorkerCapability(old, 'web', { kind: 'tart-guest-agent' })).not.toThrow();
    const err = refusal(() => checkWorkerCapability(old, 'web', echo));
    expect(err.code).toBe(DomainErrorCode.Unavailable);
    expect(err.message).toBe(
      'worker "w1" of VM "web" cannot forward to host processes: it lacks the capability host-processes (upgrade the worker)',
    );
    expect(() => checkWorkerCapability({ name: 'w2', capabilities: ['host-processes'] }, 'web', echo)).not.toThrow();
    expect(
      refusal(() => checkWorkerCapability({ name: 'w2', capabilities: [] }, 'web', { kind: 'tart-guest-agent' }))
        .message,
    ).toContain('lacks the capability tunnel-guest-agent');
  });

  it('opens a session with the open frame the worker decodes to the same destination', () => {
    for (const [to, frame] of [
      [
        { kind: 'port', port: 22 },
        { kind: 'open', session: 's', vmUid: 'u', port: 22 },
      ],
      [{ kind: 'tart-guest-agent' }, { kind: 'open', session: 's', vmUid: 'u', port: 0, target: 'tart-guest-agent' }],
      [echo, { kind: 'open', session: 's', vmUid: 'u', port: 0, target: 'host-process', hostProcess: 'echo' }],
    ] as const) {
      expect(openFrame('s', 'u', to)).toEqual(frame);
      expect(decodeTunnelFrame(encodeTunnelFrame(openFrame('s', 'u', to)))).toEqual(frame);
    }
  });

  it('names the destination in the audit record', () => {
    expect(auditFields({ kind: 'port', port: 22 })).toEqual({ port: 22 });
    expect(auditFields({ kind: 'tart-guest-agent' })).toEqual({ port: 0, target: 'tart-guest-agent' });
    expect(auditFields(echo)).toEqual({ port: 0, target: 'host-process', hostProcess: 'echo' });
  });
});
