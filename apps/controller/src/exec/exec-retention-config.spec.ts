import { ConfigError, loadControllerConfig } from '../infra/config/controller-config';

describe('--exec-session-retention-ttl', () => {
  it("defaults to Orchard's 10 minutes and takes a duration", () => {
    expect(loadControllerConfig([], {}).execSessionRetentionMs).toBe(600_000);
    expect(loadControllerConfig(['--exec-session-retention-ttl', '90s'], {}).execSessionRetentionMs).toBe(90_000);
    expect(loadControllerConfig(['--exec-session-retention-ttl', '1h'], {}).execSessionRetentionMs).toBe(3_600_000);
  });

  it('refuses what is not a duration', () => {
    expect(() => loadControllerConfig(['--exec-session-retention-ttl', 'soon'], {})).toThrow(ConfigError);
    expect(() => loadControllerConfig(['--exec-session-retention-ttl', 'soon'], {})).toThrow(
      /--exec-session-retention-ttl "soon" is not a duration/,
    );
  });
});
