import { DEFAULT_CLUSTER_SETTINGS, newVm, type Vm } from '@grove/resources';
import { onlyEndpointsChanged } from './endpoint-change';

const base: Vm = newVm({ name: 'v', image: 'i' }, DEFAULT_CLUSTER_SETTINGS, 'uid', new Date(0));
const ssh = { name: 'ssh', protocol: 'tcp' as const, target: { vm: { port: 22 } } };

describe('onlyEndpointsChanged', () => {
  it.each<[string, Partial<Vm>, Partial<Vm>, boolean]>([
    ['endpoints added', {}, { endpoints: [ssh] }, true],
    ['endpoints removed', { endpoints: [ssh] }, {}, true],
    ['an endpoint port changed', { endpoints: [ssh] }, { endpoints: [{ ...ssh, target: { vm: { port: 2 } } }] }, true],
    ['nothing changed', { endpoints: [ssh] }, { endpoints: [ssh] }, false],
    ['endpoints and the power state', {}, { endpoints: [ssh], powerState: 'stopped' }, false],
    ['endpoints and Softnet', {}, { endpoints: [ssh], netSoftnet: true, 'net-softnet': true }, false],
    ['only usbAccessories', {}, { usbAccessories: false }, false],
  ])('%s → %s', (_case, applied, remote, expected) => {
    expect(onlyEndpointsChanged({ ...base, ...applied, generation: 1 }, { ...base, ...remote, generation: 2 })).toBe(
      expected,
    );
  });
});
