import type { VmStatus } from '@grove/resources';
import {
  formatOnDiskName,
  onDiskNameOf,
  parseOnDiskName,
  planOnDiskGc,
  type ControllerVmView,
  type OnDiskName,
} from './on-disk-name';

const UID = '3f0c7c8e-1d2b-4c55-9a1e-0b7e2f6a9c11';
const UID2 = '6c1e0b7a-3f52-4d8e-9a41-2b9f0c7d1e55';

describe('on-disk names', () => {
  it('formats grove-<name>-<uid>-<restartCount>', () => {
    expect(formatOnDiskName({ name: 'ci', uid: UID, restartCount: 0 })).toBe(`grove-ci-${UID}-0`);
    expect(onDiskNameOf({ name: 'ci', uid: UID, restart_count: 7 })).toBe(`grove-ci-${UID}-7`);
  });

  it.each<OnDiskName>([
    { name: 'ci', uid: UID, restartCount: 0 },
    { name: 'ci-runner-1', uid: UID, restartCount: 3 },
    { name: 'a-b-c-d-e-f', uid: UID2, restartCount: 12 },
    { name: '-', uid: UID, restartCount: 0 },
    { name: 'x', uid: UID, restartCount: Number.MAX_SAFE_INTEGER },
    { name: 'with.dots:and_underscores', uid: UID.toUpperCase(), restartCount: 1 },
    { name: 'grove-inside', uid: UID, restartCount: 2 },
  ])('round-trips $name / $uid / $restartCount', (parts) => {
    expect(parseOnDiskName(formatOnDiskName(parts))).toEqual(parts);
  });

  it('splits from the right, so dashes belong to the VM name', () => {
    expect(parseOnDiskName(`grove-my-vm-2-${UID}-4`)).toEqual({ name: 'my-vm-2', uid: UID, restartCount: 4 });
  });

  it.each([
    ['an Orchard VM', `orchard-ci-${UID}-0`],
    ['a hand-made Tart VM', 'sonoma-base'],
    ['an image reference', 'ghcr.io/cirruslabs/macos-sonoma-base:latest'],
    ['the prefix in another case', `Grove-ci-${UID}-0`],
    ['the prefix without a dash', `groveci-${UID}-0`],
    ['no VM name', `grove-${UID}-0`],
    ['an empty VM name', `grove--${UID}-0`],
    ['no restart count', `grove-ci-${UID}`],
    ['a non-numeric restart count', `grove-ci-${UID}-x`],
    ['a negative restart count', `grove-ci-${UID}--1`],
    ['a non-canonical restart count', `grove-ci-${UID}-01`],
    ['a fractional restart count', `grove-ci-${UID}-1.5`],
    ['a restart count beyond 2^53', `grove-ci-${UID}-9007199254740993`],
    ['a non-UUID uid', 'grove-ci-not-a-uuid-at-all-0'],
    ['a uid with a non-hex digit', 'grove-ci-3f0c7c8e-1d2b-4c55-9a1e-0b7e2f6a9c1g-0'],
    ['a uid with a short group', 'grove-ci-3f0c7c8-1d2b-4c55-9a1e-0b7e2f6a9c11-0'],
    ['a bare prefix', 'grove-'],
    ['an empty string', ''],
  ])('does not parse %s', (_case, text) => {
    expect(parseOnDiskName(text)).toBeUndefined();
  });
});

function controllerVm(name: string, status: VmStatus, restartCount = 0, uid = UID): ControllerVmView {
  return { name, uid, restart_count: restartCount, status };
}

describe('on-disk garbage collection (orchard.md §5.5)', () => {
  const ours = (name: string, restartCount = 0, uid = UID) => `grove-${name}-${uid}-${restartCount}`;

  it('deletes Grove VMs the controller does not know, stopping running ones first', () => {
    const plan = planOnDiskGc(
      [
        { name: ours('gone-running'), running: true },
        { name: ours('gone-stopped'), running: false },
      ],
      [],
    );
    expect(plan).toEqual({
      delete: [
        { name: ours('gone-running'), stopFirst: true },
        { name: ours('gone-stopped'), stopFirst: false },
      ],
      stop: [],
      ignored: [],
    });
  });

  it('never touches VMs that are not Grove’s, including Orchard’s on a shared host', () => {
    const plan = planOnDiskGc(
      [
        { name: `orchard-ci-${UID}-0`, running: true },
        { name: 'sonoma-base', running: false },
        { name: 'ghcr.io/cirruslabs/macos-sonoma-base:latest', running: false },
      ],
      // Even a controller VM whose name would match does not make a foreign clone ours.
      [controllerVm('ci', 'running')],
    );
    expect(plan).toEqual({ delete: [], stop: [], ignored: [] });
  });

  it('reports grove-prefixed names that do not parse, and leaves them alone', () => {
    const plan = planOnDiskGc([{ name: 'grove-ci-not-a-uuid-0', running: true }], []);
    expect(plan).toEqual({ delete: [], stop: [], ignored: ['grove-ci-not-a-uuid-0'] });
  });

  it.each<[boolean]>([[true], [false]])(
    'a clone of a VM the controller still has pending is deleted so that create can clone afresh (running: %s)',
    (running) => {
      const plan = planOnDiskGc([{ name: ours('known'), running }], [controllerVm('known', 'pending')]);
      expect(plan).toEqual({ delete: [{ name: ours('known'), stopFirst: running }], stop: [], ignored: [] });
    },
  );

  it.each<[VmStatus, boolean, string[]]>([
    ['running', true, [ours('known')]],
    ['running', false, []],
    ['failed', true, [ours('known')]],
    ['failed', false, []],
  ])('a known VM with remote status %s (on disk running: %s) is stopped when listed: %j', (status, running, stop) => {
    const plan = planOnDiskGc([{ name: ours('known'), running }], [controllerVm('known', status)]);
    expect(plan).toEqual({ delete: [], stop, ignored: [] });
  });

  it('matches on the whole incarnation: a clone of an earlier restart or another uid is garbage', () => {
    const plan = planOnDiskGc(
      [
        { name: ours('ci', 0), running: false },
        { name: ours('ci', 1), running: true },
        { name: ours('ci', 1, UID2), running: false },
      ],
      [controllerVm('ci', 'running', 1)],
    );
    expect(plan).toEqual({
      delete: [
        { name: ours('ci', 0), stopFirst: false },
        { name: ours('ci', 1, UID2), stopFirst: false },
      ],
      stop: [ours('ci', 1)],
      ignored: [],
    });
  });

  it('leaves VMs the worker already manages to the sync FSM', () => {
    const plan = planOnDiskGc(
      [
        { name: ours('managed'), running: true },
        { name: ours('managed-known'), running: true },
      ],
      [controllerVm('managed-known', 'running')],
      new Set([ours('managed'), ours('managed-known')]),
    );
    expect(plan).toEqual({ delete: [], stop: [], ignored: [] });
  });

  it('handles a VM name that contains dashes and a uid-like suffix', () => {
    const tricky = `grove-build-${UID2}-0-${UID}-2`;
    expect(parseOnDiskName(tricky)).toEqual({ name: `build-${UID2}-0`, uid: UID, restartCount: 2 });
    const plan = planOnDiskGc([{ name: tricky, running: true }], [controllerVm(`build-${UID2}-0`, 'failed', 2)]);
    expect(plan).toEqual({ delete: [], stop: [tricky], ignored: [] });
  });
});
