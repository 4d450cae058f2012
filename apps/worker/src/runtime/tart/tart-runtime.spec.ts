import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@grove/testing';
import { RuntimeError } from '../vm-runtime';
import { TartRuntime } from './tart-runtime';

// A scripted `tart` that records every argv, to check which invocations the runtime makes and how it reads their
// results. The stand-in tart (tart-runtime.int-spec.ts) checks the behaviour against Tart's.
const FAKE_TART = `#!/bin/sh
echo "$*" >> "$FAKE_TART_CALLS"
case "$*" in
  "ip --wait 5 --resolver agent "*) echo 'no IP address found (also make sure that Guest agent for Tart is running inside of a VM)' >&2; exit 1 ;;
  "ip --wait 30 --resolver arp "*) echo 192.168.1.7 ;;
  "stop "*) echo "VM \\"$4\\" is not running" >&2; exit 2 ;;
  "delete "*) echo "the specified VM \\"$2\\" does not exist" >&2; exit 2 ;;
  "get "*) printf '{\\n  "OS" : "darwin",\\n  "State" : "suspended"\\n}\\n' ;;
  "run "*) echo 'Error Domain=VZErrorDomain Code=1 "The virtual machine failed to start."' >&2; exit 1 ;;
esac
exit 0
`;

let dir: string;
let calls: string;
let logs: string[];
let tart: TartRuntime;
const never = new AbortController().signal;

function recorded(): string[] {
  return readFileSync(calls, 'utf8').trim().split('\n');
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'grove-fake-tart-'));
  calls = join(dir, 'calls');
  writeFileSync(calls, '');
  writeFileSync(join(dir, 'tart'), FAKE_TART);
  chmodSync(join(dir, 'tart'), 0o755);
  logs = [];
  tart = new TartRuntime({
    env: { PATH: `${dir}:/usr/bin:/bin`, FAKE_TART_CALLS: calls, TART_HOME: '/th' },
    log: (line) => logs.push(line),
  });
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('TartRuntime (scripted tart)', () => {
  it('finds tart on the PATH of its environment and configures in tart.md §3.3 order', async () => {
    await tart.configure('vm', { cpu: 4, memory: 8192, diskSize: 0, randomSerial: true }, never);
    expect(recorded()).toEqual([
      'set --memory 8192 vm',
      'set --cpu 4 vm',
      'set --random-mac vm',
      'set --random-serial vm',
    ]);
  });

  it('asks the agent and then ARP for a bridged VM, and DHCP otherwise', async () => {
    expect(await tart.ip('vm', { bridged: true, waitSeconds: 30 }, never)).toBe('192.168.1.7');
    await expect(tart.ip('vm', { bridged: false, waitSeconds: 30 }, never)).rejects.toThrow(
      'tart ip --wait 30 vm printed no address',
    );
    expect(recorded()).toEqual([
      'ip --wait 5 --resolver agent vm',
      'ip --wait 30 --resolver arp vm',
      'ip --wait 30 vm',
    ]);
  });

  it('treats exit 2 of stop and delete as done, logging Tart’s line, and reads the suspended state', async () => {
    await tart.stop('vm', 5);
    await tart.delete('vm');
    expect(await tart.isSuspended('vm', never)).toBe(true);
    expect(recorded()).toEqual(['stop --timeout 5 vm', 'delete vm', 'get vm --format json']);
    expect(logs).toEqual([
      'tart stop --timeout 5 vm: exit 2, taken as done: tart command failed: "VM "vm" is not running"',
      'tart delete vm: exit 2, taken as done: tart command failed: "the specified VM "vm" does not exist"',
    ]);
  });

  it('answers fqn and isSuspended without throwing when tart fails or prints nonsense', async () => {
    writeFileSync(join(dir, 'tart'), '#!/bin/sh\necho "OCI storage error: x" >&2\nexit 1\n');
    expect(await tart.fqn('registry.grove.test/a/b:latest', never)).toBeUndefined();
    expect(await tart.isSuspended('vm', never)).toBe(false);
    writeFileSync(join(dir, 'tart'), '#!/bin/sh\necho "not json"\n');
    expect(await tart.isSuspended('vm', never)).toBe(false);
  });

  it('SIGKILLs a command that outlives commandTimeoutMs, but never bounds pull or clone by it', async () => {
    // `exec` so that the SIGKILL reaches the sleeping process itself and nothing is left behind.
    writeFileSync(join(dir, 'tart'), '#!/bin/sh\necho "$*" >> "$FAKE_TART_CALLS"\nexec sleep 0.6\n');
    const env = { PATH: `${dir}:/usr/bin:/bin`, FAKE_TART_CALLS: calls };
    const quick = new TartRuntime({ env, commandTimeoutMs: 200 });
    await expect(quick.delete('vm')).rejects.toEqual(new RuntimeError('tart delete did not finish within 0.2 s'));
    await expect(quick.suspend('vm')).rejects.toThrow('tart suspend did not finish within 0.2 s');
    await expect(quick.clone('img', 'vm', never)).resolves.toBeUndefined();
    await expect(quick.pull('img', never)).resolves.toBeUndefined();
  });

  it('cancels a command when its signal fires, and spawns nothing for a signal that already fired', async () => {
    writeFileSync(join(dir, 'tart'), '#!/bin/sh\necho "$*" >> "$FAKE_TART_CALLS"\nexec sleep 5\n');
    const abort = new AbortController();
    const cloning = tart.clone('img', 'vm', abort.signal);
    await waitFor('clone to start', () => recorded().includes('clone img vm'));
    abort.abort();
    await expect(cloning).rejects.toEqual(new RuntimeError('tart clone was cancelled'));
    await expect(tart.connect('vm', 22, abort.signal)).rejects.toThrow('tart ip was cancelled');
    expect(recorded()).toEqual(['clone img vm']);
    expect(logs).toEqual([]); // cancellation is the caller's doing, not a failure worth a line
  });

  it('resolves a failed run with its exit code and Tart’s first stderr line', async () => {
    expect(await tart.run('vm', { ...runDefaults, nested: true }, never)).toEqual({
      code: 1,
      error: 'tart command failed: "Error Domain=VZErrorDomain Code=1 "The virtual machine failed to start.""',
    });
    expect(recorded()).toEqual(['run --nested --no-audio --no-clipboard vm']);
  });

  it('points at the control socket under TART_HOME', () => {
    expect(tart.guestAgent('vm').target).toBe('unix:///th/vms/vm/control.sock');
    const home = new TartRuntime({ env: { HOME: '/Users/ci' } });
    expect(home.guestAgent('vm').target).toBe('unix:///Users/ci/.tart/vms/vm/control.sock');
  });

  it('fails start() clearly when tart --version fails', async () => {
    writeFileSync(join(dir, 'tart'), '#!/bin/sh\necho "dyld: Library not loaded" >&2\nexit 134\n');
    await expect(tart.start()).rejects.toEqual(
      new RuntimeError('tart --version failed: tart command failed: "dyld: Library not loaded"', 134),
    );
  });
});

const runDefaults = {
  netSoftnet: false,
  netSoftnetAllow: [],
  netSoftnetBlock: [],
  netSoftnetExpose: [],
  netBridged: '',
  headless: false,
  nested: false,
  suspendable: false,
  audio: false,
  clipboard: false,
  hostDirs: [],
  credentials: { username: 'admin', password: 'admin' },
};
