import { cli, useFakeController } from '../test-support/fake-controller';
import { devControllerFlags } from './dev.commands';

describe('grove dev --insecure-allow-host-dirs', () => {
  it('passes the switch on to the dev controller only when given', () => {
    expect(devControllerFlags({})).toEqual(['--swagger-ui']);
    expect(devControllerFlags({ insecureAllowHostDirs: false })).toEqual(['--swagger-ui']);
    expect(devControllerFlags({ insecureAllowHostDirs: true })).toEqual(['--swagger-ui', '--insecure-allow-host-dirs']);
  });

  it('passes --metrics-public on to the dev controller only when given', () => {
    expect(devControllerFlags({ metricsPublic: true })).toEqual(['--swagger-ui', '--metrics-public']);
    expect(devControllerFlags({ metricsPublic: false })).toEqual(['--swagger-ui']);
  });

  describe('help', () => {
    const t = useFakeController();

    it('explains the flag and its risk', async () => {
      const result = await cli(t.env, 'dev', '--help');
      expect(result.code).toBe(0);
      const text = result.stdout.replace(/\s+/g, ' ');
      expect(text).toContain(
        '--insecure-allow-host-dirs let VMs mount any directory of this host (--host-dirs), ignoring the cluster ' +
          'host-dir policies; for a development machine only: whoever can create a VM can then read and write ' +
          'every path the worker can',
      );
    });
  });
});
