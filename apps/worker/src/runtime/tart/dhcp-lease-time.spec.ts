import { INTERNET_SHARING_PLIST, dhcpLeaseTimeWarning } from './dhcp-lease-time';

describe('dhcpLeaseTimeWarning', () => {
  it('is quiet for a lease of at most an hour', () => {
    expect(dhcpLeaseTimeWarning('{\n    DHCPLeaseTimeSecs = 600;\n}\n')).toBeUndefined();
    expect(dhcpLeaseTimeWarning('{\n    DHCPLeaseTimeSecs = 3600;\n}\n')).toBeUndefined();
  });

  it('warns about a longer lease', () => {
    expect(dhcpLeaseTimeWarning('{\n    DHCPLeaseTimeSecs = 86400;\n}\n')).toMatch(/^the DHCP lease time is 86400 s/);
  });

  it('warns when no lease time is set, with the command that sets one', () => {
    const warning = dhcpLeaseTimeWarning('{\n    Foo = 1;\n}\n');
    expect(warning).toMatch(/^no DHCP lease time/);
    expect(warning).toContain(`defaults write ${INTERNET_SHARING_PLIST} bootpd -dict DHCPLeaseTimeSecs -int 600`);
  });

  it('warns when the settings cannot be read', () => {
    expect(dhcpLeaseTimeWarning(undefined, 'The domain/default pair does not exist')).toMatch(
      /^could not read the DHCP lease time \(The domain\/default pair does not exist\): /,
    );
  });
});
