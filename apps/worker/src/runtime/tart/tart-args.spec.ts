import { runOptions as baseRunOptions } from '../../test-support/run-options';
import type { VmRunOptions } from '../vm-runtime';
import { tartDirValue, tartIpArgs, tartRunArgs, tartSetArgs, tartStopArgs } from './tart-args';

const ODN = 'grove-ci-3f0c7c8e-1d2b-4c55-9a1e-0b7e2f6a9c11-0';

/** Tart's own default is a window: these tests start from `headless: false`. */
function runOptions(overrides: Partial<VmRunOptions> = {}): VmRunOptions {
  return baseRunOptions({ headless: false, ...overrides });
}

describe('tartRunArgs', () => {
  it('puts every flag in the order of tart.md §3.3 step 10, the VM name last', () => {
    // Tart itself rejects Softnet together with bridged networking (exit 64); this only pins the order.
    const args = tartRunArgs(
      runOptions({
        netSoftnet: true,
        netSoftnetAllow: ['10.0.0.0/8', '192.168.0.0/16'],
        netSoftnetBlock: ['0.0.0.0/0', '1.1.1.1/32'],
        netSoftnetExpose: ['2222:22', '8080:80'],
        netBridged: 'en0',
        headless: true,
        nested: true,
        suspendable: true,
        usbAccessories: false,
        hostDirs: [
          { name: 'src', path: '/Users/ci/src' },
          { name: 'cache', path: '/var/cache/ci', ro: true },
        ],
      }),
      ODN,
    );
    expect(args).toEqual([
      'run',
      '--net-softnet',
      '--net-softnet-allow',
      '10.0.0.0/8,192.168.0.0/16',
      '--net-softnet-block',
      '0.0.0.0/0,1.1.1.1/32',
      '--net-softnet-expose',
      '2222:22,8080:80',
      '--net-bridged=en0',
      '--no-graphics',
      '--nested',
      '--no-audio',
      '--no-clipboard',
      '--no-usb-accessories',
      '--suspendable',
      '--dir=src:/Users/ci/src',
      '--dir=cache:/var/cache/ci:ro',
      ODN,
    ]);
  });

  it('turns audio and clipboard off for a default VM (a window, NAT, no shares), as newer Orchard does', () => {
    expect(tartRunArgs(runOptions(), ODN)).toEqual(['run', '--no-audio', '--no-clipboard', ODN]);
  });

  it('leaves audio and clipboard on for a VM that asks for them (orchard-2026.md §1.2.7)', () => {
    expect(tartRunArgs(runOptions({ audio: true, clipboard: true }), ODN)).toEqual(['run', ODN]);
    expect(tartRunArgs(runOptions({ audio: true }), ODN)).toEqual(['run', '--no-clipboard', ODN]);
    expect(tartRunArgs(runOptions({ clipboard: true }), ODN)).toEqual(['run', '--no-audio', ODN]);
  });

  it('passes --no-usb-accessories only for usbAccessories: false (orchard-2026.md §1.2.8)', () => {
    const on = { audio: true, clipboard: true };
    expect(tartRunArgs(runOptions({ ...on, usbAccessories: false }), ODN)).toEqual([
      'run',
      '--no-usb-accessories',
      ODN,
    ]);
    expect(tartRunArgs(runOptions({ ...on, usbAccessories: true }), ODN)).toEqual(['run', ODN]);
    expect(tartRunArgs(runOptions({ ...on, usbAccessories: undefined }), ODN)).toEqual(['run', ODN]);
  });

  it('passes exposed ports comma-joined as the next element (orchard-2026.md §1.2.9)', () => {
    expect(
      tartRunArgs(runOptions({ audio: true, clipboard: true, netSoftnet: true, netSoftnetExpose: ['2222:22'] }), ODN),
    ).toEqual(['run', '--net-softnet', '--net-softnet-expose', '2222:22', ODN]);
  });

  it('passes allow/block lists without --net-softnet when the VM only has lists (Tart implies Softnet)', () => {
    expect(tartRunArgs(runOptions({ audio: true, clipboard: true, netSoftnetAllow: ['10.0.0.0/8'] }), ODN)).toEqual([
      'run',
      '--net-softnet-allow',
      '10.0.0.0/8',
      ODN,
    ]);
  });
});

describe('tartDirValue', () => {
  it('is name:path with :ro for read-only shares', () => {
    expect(tartDirValue({ name: 'a', path: '/x/y' })).toBe('a:/x/y');
    expect(tartDirValue({ name: 'a', path: '/x/y', ro: false })).toBe('a:/x/y');
    expect(tartDirValue({ name: 'a', path: '/x/y', ro: true })).toBe('a:/x/y:ro');
  });
});

describe('tartSetArgs', () => {
  it('sets memory, CPU, disk, a random MAC and a random serial, one invocation each, in that order', () => {
    expect(tartSetArgs({ cpu: 4, memory: 8192, diskSize: 80, randomSerial: true }, ODN)).toEqual([
      ['set', '--memory', '8192', ODN],
      ['set', '--cpu', '4', ODN],
      ['set', '--disk-size', '80', ODN],
      ['set', '--random-mac', ODN],
      ['set', '--random-serial', ODN],
    ]);
  });

  it('leaves zero settings alone but always randomizes the MAC', () => {
    expect(tartSetArgs({ cpu: 0, memory: 0, diskSize: 0, randomSerial: false }, ODN)).toEqual([
      ['set', '--random-mac', ODN],
    ]);
    expect(tartSetArgs({ cpu: 2, memory: 0, diskSize: 0, randomSerial: false }, ODN)).toEqual([
      ['set', '--cpu', '2', ODN],
      ['set', '--random-mac', ODN],
    ]);
  });
});

describe('tartIpArgs and tartStopArgs', () => {
  it('builds Orchard’s ip invocations', () => {
    expect(tartIpArgs({ waitSeconds: 60 }, ODN)).toEqual(['ip', '--wait', '60', ODN]);
    expect(tartIpArgs({ waitSeconds: 5, resolver: 'agent' }, ODN)).toEqual([
      'ip',
      '--wait',
      '5',
      '--resolver',
      'agent',
      ODN,
    ]);
    expect(tartIpArgs({ waitSeconds: 60, resolver: 'arp' }, ODN)).toEqual([
      'ip',
      '--wait',
      '60',
      '--resolver',
      'arp',
      ODN,
    ]);
  });

  it('keeps --wait a whole number of seconds in UInt16 range', () => {
    expect(tartIpArgs({ waitSeconds: 0.2 }, ODN)).toEqual(['ip', '--wait', '1', ODN]);
    expect(tartIpArgs({ waitSeconds: -3 }, ODN)).toEqual(['ip', '--wait', '0', ODN]);
    expect(tartIpArgs({ waitSeconds: 1e6 }, ODN)).toEqual(['ip', '--wait', '65535', ODN]);
  });

  it('builds stop with its timeout before the name', () => {
    expect(tartStopArgs(5, ODN)).toEqual(['stop', '--timeout', '5', ODN]);
  });
});
