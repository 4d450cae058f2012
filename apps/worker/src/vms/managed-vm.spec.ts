import { DEFAULT_CLUSTER_SETTINGS, newVm, type Vm } from '@grove/resources';
import { runOptions } from './managed-vm';

function vm(input: Partial<Parameters<typeof newVm>[0]> = {}): Vm {
  return newVm(
    { name: 'ci', image: 'ghcr.io/cirruslabs/macos-tahoe-base:latest', ...input },
    DEFAULT_CLUSTER_SETTINGS,
    '3f0c7c8e-1d2b-4c55-9a1e-0b7e2f6a9c11',
    new Date('2026-12-05T12:00:00Z'),
  );
}

describe('runOptions (issue 12: the run flags Orchard added later)', () => {
  it('carries audio, clipboard, USB accessories and exposed ports over from the VM', () => {
    expect(
      runOptions(vm({ audio: true, clipboard: true, usbAccessories: false, netSoftnetExpose: ['2222:22'] })),
    ).toMatchObject({
      audio: true,
      clipboard: true,
      usbAccessories: false,
      netSoftnetExpose: ['2222:22'],
      netSoftnet: true,
    });
  });

  it('reads a VM stored before those fields as: audio and clipboard off, nothing exposed, Tart’s USB devices', () => {
    const { audio: _a, clipboard: _c, usbAccessories: _u, netSoftnetExpose: _e, ...old } = vm();
    expect(runOptions(old as Vm)).toMatchObject({
      audio: false,
      clipboard: false,
      usbAccessories: undefined,
      netSoftnetExpose: [],
    });
  });
});
