import { UsageError } from './cli.errors';
import { normalizeControllerUrl } from './controller-url';

describe('normalizeControllerUrl', () => {
  it.each([
    ['controller.example.com', 'https://controller.example.com:6120'],
    ['controller.example.com:7000', 'https://controller.example.com:7000'],
    ['https://controller.example.com', 'https://controller.example.com:6120'],
    // An explicit default port is kept (as the URL's implicit one), not replaced by 6120.
    ['https://controller.example.com:443', 'https://controller.example.com'],
    ['http://127.0.0.1:8080/', 'http://127.0.0.1:8080'],
    ['http://127.0.0.1', 'http://127.0.0.1:6120'],
    ['HTTPS://Controller.Example.com/grove/', 'https://controller.example.com:6120/grove'],
    ['[::1]', 'https://[::1]:6120'],
    ['https://[::1]:9000', 'https://[::1]:9000'],
    ['  10.0.0.5  ', 'https://10.0.0.5:6120'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeControllerUrl(input)).toBe(expected);
  });

  it.each([
    ['', 'the controller URL is empty'],
    ['ftp://x', 'invalid controller URL "ftp://x": the scheme must be http or https'],
    ['https://admin:secret@x', 'put credentials in --service-account-name and --service-account-token'],
    ['http://', 'invalid controller URL "http://"'],
  ])('rejects %j', (input, message) => {
    expect(() => normalizeControllerUrl(input)).toThrow(UsageError);
    expect(() => normalizeControllerUrl(input)).toThrow(message);
  });
});
