import { DEFAULT_CLUSTER_SETTINGS, newVm, type HostProcess, type Vm } from '@grove/resources';
import { onlySidecarsChanged } from './sidecar-change';

const base: Vm = newVm({ name: 'v', image: 'i' }, DEFAULT_CLUSTER_SETTINGS, 'uid', new Date(0));
const ssh = { name: 'ssh', protocol: 'tcp' as const, target: { vm: { port: 22 } } };
const proxy: HostProcess = { name: 'proxy', program: '/usr/local/bin/proxy', args: ['--vm', '${ORCHARD_VM_NAME}'] };

describe('onlySidecarsChanged', () => {
  const both = { endpoints: true, hostProcesses: true };
  const endpoints = { endpoints: true, hostProcesses: false };
  const processes = { endpoints: false, hostProcesses: true };
  it.each<[string, Partial<Vm>, Partial<Vm>, ReturnType<typeof onlySidecarsChanged>]>([
    ['endpoints added', {}, { endpoints: [ssh] }, endpoints],
    ['endpoints removed', { endpoints: [ssh] }, {}, endpoints],
    [
      'an endpoint port changed',
      { endpoints: [ssh] },
      { endpoints: [{ ...ssh, target: { vm: { port: 2 } } }] },
      endpoints,
    ],
    [
      'nothing changed',
      { endpoints: [ssh], hostProcesses: [proxy] },
      { endpoints: [ssh], hostProcesses: [proxy] },
      undefined,
    ],
    ['endpoints and the power state', {}, { endpoints: [ssh], powerState: 'stopped' }, undefined],
    ['endpoints and Softnet', {}, { endpoints: [ssh], netSoftnet: true, 'net-softnet': true }, undefined],
    ['only usbAccessories', {}, { usbAccessories: false }, undefined],
    ['host processes added', {}, { hostProcesses: [proxy] }, processes],
    ['host processes removed', { hostProcesses: [proxy] }, {}, processes],
    [
      'a host process argument changed',
      { hostProcesses: [proxy] },
      { hostProcesses: [{ ...proxy, args: [] }] },
      processes,
    ],
    [
      'a host process environment changed',
      { hostProcesses: [proxy] },
      { hostProcesses: [{ ...proxy, env: { A: '1' } }] },
      processes,
    ],
    ['host processes and endpoints', {}, { hostProcesses: [proxy], endpoints: [ssh] }, both],
    [
      'host processes and the Softnet allow list',
      {},
      { hostProcesses: [proxy], netSoftnetAllow: ['10.0.0.0/8'] },
      undefined,
    ],
    ['an empty list for none', {}, { hostProcesses: [] }, undefined],
  ])('%s → %j', (_case, applied, remote, expected) => {
    expect(onlySidecarsChanged({ ...base, ...applied, generation: 1 }, { ...base, ...remote, generation: 2 })).toEqual(
      expected,
    );
  });
});
