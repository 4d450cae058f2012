import { exitAfterMessage, faultMessage, imageFaults } from './image-faults';

describe('imageFaults', () => {
  it.each([
    ['ghcr.io/cirruslabs/macos-sequoia-base:latest', { failPull: false, failClone: false, failRun: false }],
    ['x/fail-pull', { failPull: true, failClone: false, failRun: false }],
    ['x/fail-clone', { failPull: false, failClone: true, failRun: false }],
    ['x/fail-run:1', { failPull: false, failClone: false, failRun: true }],
    ['x/img:exit-after-250', { failPull: false, failClone: false, failRun: false, exitAfterMs: 250 }],
    ['fail-pull-fail-run:exit-after-0', { failPull: true, failClone: false, failRun: true, exitAfterMs: 0 }],
    ['x/exit-after-soon', { failPull: false, failClone: false, failRun: false }],
  ])('parses %s', (image, faults) => {
    expect(imageFaults(image)).toEqual(faults);
  });

  it('explains the failures it causes', () => {
    expect(faultMessage('clone', 'x/fail-clone')).toBe(
      'synthetic runtime: clone of "x/fail-clone" failed (the image name asks for it)',
    );
    expect(exitAfterMessage(40)).toBe('synthetic runtime: the VM exited after 40 ms (the image name asks for it)');
  });
});
