import { waitFor } from '@grove/testing';
import type { SyntheticRuntime } from '../runtime/synthetic/synthetic-runtime';
import type { VmRunOptions } from '../runtime/vm-runtime';

/** The run options of a VM whose spec asks for nothing special; a test overrides only what it exercises. */
export function runOptions(overrides: Partial<VmRunOptions> = {}): VmRunOptions {
  return {
    netSoftnet: false,
    netSoftnetAllow: [],
    netSoftnetBlock: [],
    netSoftnetExpose: [],
    netBridged: '',
    headless: true,
    nested: false,
    suspendable: false,
    audio: false,
    clipboard: false,
    hostDirs: [],
    credentials: { username: 'admin', password: 'admin' },
    ...overrides,
  };
}

/** Clones `image` as `name` on the synthetic runtime and runs it until it has an IP address (it has booted). */
export async function bootSyntheticVm(
  runtime: SyntheticRuntime,
  image: string,
  name: string,
  signal: AbortSignal,
  options: VmRunOptions = runOptions(),
): Promise<void> {
  await runtime.clone(image, name, signal);
  void runtime.run(name, options, signal);
  await waitFor(`${name} to boot`, () =>
    runtime.ip(name, { bridged: false, waitSeconds: 0 }, signal).catch(() => undefined),
  );
}
