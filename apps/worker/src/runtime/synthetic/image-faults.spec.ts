import { exitAfterMessage, faultMessage, imageFaults } from './image-faults';

describe('imageFaults', () => {
  it.each([
    [
      'ghcr.io/cirruslabs/macos-sequoia-base:latest',
      { failPull: false, failClone: false, failRun: false, agent: 'serving' },
    ],
    ['x/fail-pull', { failPull: true, failClone: false, failRun: false, agent: 'serving' }],
    ['x/fail-clone', { failPull: false, failClone: true, failRun: false, agent: 'serving' }],
    ['x/fail-run:1', { failPull: false, failClone: false, failRun: true, agent: 'serving' }],
    ['x/img:exit-after-250', { failPull: false, failClone: false, failRun: false, exitAfterMs: 250, agent: 'serving' }],
    [
      'fail-pull-fail-run:exit-after-0',
      { failPull: true, failClone: false, failRun: true, exitAfterMs: 0, agent: 'serving' },
    ],
    ['x/no-agent:1', { failPull: false, failClone: false, failRun: false, agent: 'absent' }],
    ['x/hung-agent', { failPull: false, failClone: false, failRun: false, agent: 'hung' }],
    ['x/exit-after-soon', { failPull: false, failClone: false, failRun: false, agent: 'serving' }],
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
