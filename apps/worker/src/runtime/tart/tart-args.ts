import type { HostDir } from '@grove/resources';
import type { VmHardware, VmRunOptions } from '../vm-runtime';

// The argv of every `tart` invocation, as pure functions so that their exact shape (which Orchard fixes, tart.md §3.3)
// is unit-tested. Tart's parser accepts options anywhere (tart.md §1.1); the order here is Orchard's nonetheless, so
// that logs and `ps` read the same as on an Orchard worker. Each function takes its settings first and the VM's name
// last, as the name comes last in the argv.

/** `--dir` value: `<name>:<path>[:ro]` (Orchard's `HostDir.String()`). */
export function tartDirValue(dir: HostDir): string {
  return `${dir.name}:${dir.path}${dir.ro ? ':ro' : ''}`;
}

/**
 * `tart run` (tart.md §3.3 step 10): `--net-softnet-allow`/`-block`/`-expose` take their value as the next element,
 * while `--net-bridged=` and `--dir=` are joined with `=`. Audio and clipboard are opt-in as in newer Orchard
 * (orchard-2026.md §1.2.7): `--no-audio` and `--no-clipboard` unless the VM asks for them. `--no-usb-accessories`
 * only when the VM says `usbAccessories: false` (orchard-2026.md §1.2.8), so that Tart versions without the flag
 * keep running every other VM. The VM's name comes last.
 */
export function tartRunArgs(options: VmRunOptions, onDiskName: string): string[] {
  const args = ['run'];
  if (options.netSoftnet) {
    args.push('--net-softnet');
  }
  if (options.netSoftnetAllow.length > 0) {
    args.push('--net-softnet-allow', options.netSoftnetAllow.join(','));
  }
  if (options.netSoftnetBlock.length > 0) {
    args.push('--net-softnet-block', options.netSoftnetBlock.join(','));
  }
  if (options.netSoftnetExpose.length > 0) {
    args.push('--net-softnet-expose', options.netSoftnetExpose.join(','));
  }
  if (options.netBridged !== '') {
    args.push(`--net-bridged=${options.netBridged}`);
  }
  if (options.headless) {
    args.push('--no-graphics');
  }
  if (options.nested) {
    args.push('--nested');
  }
  if (!options.audio) {
    args.push('--no-audio');
  }
  if (!options.clipboard) {
    args.push('--no-clipboard');
  }
  if (options.usbAccessories === false) {
    args.push('--no-usb-accessories');
  }
  if (options.suspendable) {
    args.push('--suspendable');
  }
  for (const dir of options.hostDirs) {
    args.push(`--dir=${tartDirValue(dir)}`);
  }
  args.push(onDiskName);
  return args;
}

/**
 * The `tart set` invocations after a clone (tart.md §3.3 steps 5–9), one per setting and in this order: memory, CPU
 * and disk size when non-zero, always a random MAC, a random serial when asked for.
 */
export function tartSetArgs(hardware: VmHardware, onDiskName: string): string[][] {
  const calls: string[][] = [];
  if (hardware.memory !== 0) {
    calls.push(['set', '--memory', String(hardware.memory), onDiskName]);
  }
  if (hardware.cpu !== 0) {
    calls.push(['set', '--cpu', String(hardware.cpu), onDiskName]);
  }
  if (hardware.diskSize !== 0) {
    calls.push(['set', '--disk-size', String(hardware.diskSize), onDiskName]);
  }
  calls.push(['set', '--random-mac', onDiskName]);
  if (hardware.randomSerial) {
    calls.push(['set', '--random-serial', onDiskName]);
  }
  return calls;
}

/** How `tart ip` finds the address; `dhcp` (Tart's default) is left implicit as Orchard does. */
export type TartIpResolver = 'dhcp' | 'arp' | 'agent';

/** `tart ip --wait <s> [--resolver <r>] <name>` (tart.md §3.3 step 11). */
export function tartIpArgs(
  { waitSeconds, resolver = 'dhcp' }: { waitSeconds: number; resolver?: TartIpResolver },
  onDiskName: string,
): string[] {
  // `--wait` is a UInt16 of whole seconds; anything else is a usage error (exit 64).
  const wait = Math.min(65_535, Math.max(0, Math.ceil(waitSeconds)));
  const args = ['ip', '--wait', String(wait)];
  if (resolver !== 'dhcp') {
    args.push('--resolver', resolver);
  }
  args.push(onDiskName);
  return args;
}

/** `tart stop --timeout <s> <name>` (tart.md §3.3 step 12). */
export function tartStopArgs(timeoutSeconds: number, onDiskName: string): string[] {
  // `--timeout` is a whole number of seconds as well.
  return ['stop', '--timeout', String(Math.max(0, Math.ceil(timeoutSeconds))), onDiskName];
}
