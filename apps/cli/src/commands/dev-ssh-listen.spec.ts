import { UsageError } from '../cli.errors';
import { devSshListen } from './dev.commands';

describe('grove dev SSH gateway address', () => {
  it('is the API port + 2 on the same host (6122 for 6120), any free port when the API port is 0', () => {
    expect(devSshListen('127.0.0.1', 6120, undefined)).toBe('127.0.0.1:6122');
    expect(devSshListen('::1', 7000, undefined)).toBe('[::1]:7002');
    expect(devSshListen('127.0.0.1', 0, undefined)).toBe('127.0.0.1:0');
  });

  it('takes --listen-ssh as given, "off" turns the gateway off, and a bad address is a usage error', () => {
    expect(devSshListen('127.0.0.1', 6120, '127.0.0.1:2222')).toBe('127.0.0.1:2222');
    expect(devSshListen('127.0.0.1', 6120, 'off')).toBeUndefined();
    expect(() => devSshListen('127.0.0.1', 6120, 'nowhere')).toThrow(UsageError);
  });
});
