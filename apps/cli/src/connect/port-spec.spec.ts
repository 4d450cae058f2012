import { parsePortSpec } from './port-spec';

describe('parsePortSpec', () => {
  it.each([
    ['22', { local: 0, remote: 22 }],
    ['8080:80', { local: 8080, remote: 80 }],
    ['0:5900', { local: 0, remote: 5900 }],
    [':5900', { local: 0, remote: 5900 }],
    ['65535:1', { local: 65535, remote: 1 }],
    ['022', { local: 0, remote: 22 }],
  ])('parses %j', (text, spec) => {
    expect(parsePortSpec(text)).toEqual(spec);
  });

  it.each([
    ['1:2:3', 'expected REMOTE or LOCAL:REMOTE, got 3 parts separated by ":"'],
    ['', 'REMOTE port "" is not a number from 1 to 65535'],
    ['0', 'REMOTE port "0" is not a number from 1 to 65535'],
    ['65536', 'REMOTE port "65536" is not a number from 1 to 65535'],
    ['8080:', 'REMOTE port "" is not a number from 1 to 65535'],
    ['ssh', 'REMOTE port "ssh" is not a number from 1 to 65535'],
    ['-1', 'REMOTE port "-1" is not a number from 1 to 65535'],
    ['22.5', 'REMOTE port "22.5" is not a number from 1 to 65535'],
    ['x:22', 'LOCAL port "x" is not a number from 0 to 65535 (0: a random free port)'],
    ['70000:22', 'LOCAL port "70000" is not a number from 0 to 65535'],
    ['1e3:22', 'LOCAL port "1e3" is not a number'],
  ])('rejects %j', (text, message) => {
    expect(() => parsePortSpec(text)).toThrow(message);
  });
});
