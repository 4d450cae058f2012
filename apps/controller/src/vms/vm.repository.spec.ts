import { newVm } from '@grove/resources';
import { documentAroundVersion, toEntity } from './vm.repository';

describe('VM documents', () => {
  it('splits the stored document around its version, whatever the VM holds', () => {
    const settings = { hostDirPolicies: [{ pathPrefix: '' }], schedulerProfile: 'optimize-utilization' as const };
    const vms = [
      newVm({ name: 'plain', image: 'i' }, settings, '8b4b2a52-05b5-4cde-a2cb-4fb2ae0b0c7e', new Date(0)),
      newVm(
        {
          name: 'version:7',
          image: '"version":1,"',
          // A resource and a label named like the field, and every optional part of a VM.
          resources: { version: 0, 'org.cirruslabs.tart-vms': 1 },
          labels: { version: '"version":0,' },
          hostDirs: [{ name: 'src', path: '/src' }],
          startup_script: { script_content: 'echo "version":2,', env: { A: 'b' } },
          endpoints: [{ name: 'web', protocol: 'tcp', target: { vm: { port: 80 } } }],
        },
        settings,
        'f0e1d2c3-b4a5-4968-8776-655443322110',
        new Date(0),
      ),
    ];
    for (const vm of vms) {
      const [head, tail] = documentAroundVersion(toEntity(vm, 0).document);
      for (const version of [1, 42, 9_007_199_254_740_991]) {
        expect(`${head}${version}${tail}`).toBe(JSON.stringify(toEntity(vm, version).document));
      }
    }
  });
});
