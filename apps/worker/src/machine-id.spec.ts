import { parseIoregPlatformUuid, readMachineId } from './machine-id';

describe('machine id', () => {
  it('reads IOPlatformUUID from ioreg text and plist output', () => {
    const text = `+-o J316sAP  <class IOPlatformExpertDevice>\n    "IOPlatformUUID" = "6C1E2D3F-0000-4000-8000-ABCDEF012345"\n`;
    expect(parseIoregPlatformUuid(text)).toBe('6C1E2D3F-0000-4000-8000-ABCDEF012345');
    const plist = `<dict><key>IOPlatformUUID</key>\n\t<string>AAAA-BBBB</string></dict>`;
    expect(parseIoregPlatformUuid(plist)).toBe('AAAA-BBBB');
    expect(parseIoregPlatformUuid('nothing here')).toBeUndefined();
  });

  it('reads /etc/machine-id on Linux', async () => {
    if (process.platform !== 'linux') {
      return;
    }
    await expect(readMachineId('linux')).resolves.toMatch(/^[0-9a-f]{32}$/);
  });
});
