/** macOS Internet Sharing's settings; its `bootpd` dictionary configures the DHCP server of Tart's NAT network. */
export const INTERNET_SHARING_PLIST =
  '/Library/Preferences/SystemConfiguration/com.apple.InternetSharing.default.plist';

/** The longest lease Orchard accepts without a warning (tart.md §3.3 step 15). */
export const MAX_DHCP_LEASE_SECONDS = 3_600;

/** `defaults read <plist> bootpd`: the command that prints the `bootpd` dictionary. */
export const READ_BOOTPD_ARGS = ['read', INTERNET_SHARING_PLIST, 'bootpd'] as const;

const ADVICE =
  `bootpd's default lease of 86400 s exhausts the VM address pool when VMs come and go (duplicate or missing IPs, ` +
  `tart.md §6); set a shorter one with ` +
  `"sudo defaults write ${INTERNET_SHARING_PLIST} bootpd -dict DHCPLeaseTimeSecs -int 600"`;

/**
 * The warning Orchard's worker logs at startup about the DHCP lease time, or undefined when it is fine. `bootpd` is
 * what `defaults read … bootpd` printed (an old-style plist such as `{ DHCPLeaseTimeSecs = 600; }`), or undefined when
 * it could not be read (`readError` says why; a missing `bootpd` key is the usual reason).
 */
export function dhcpLeaseTimeWarning(bootpd: string | undefined, readError?: string): string | undefined {
  if (bootpd === undefined) {
    return `could not read the DHCP lease time${readError ? ` (${readError})` : ''}: ${ADVICE}`;
  }
  const match = /\bDHCPLeaseTimeSecs"?\s*=\s*"?(\d+)"?\s*;/.exec(bootpd);
  if (!match) {
    return `no DHCP lease time (DHCPLeaseTimeSecs) is set: ${ADVICE}`;
  }
  const seconds = Number(match[1]);
  if (seconds > MAX_DHCP_LEASE_SECONDS) {
    return `the DHCP lease time is ${seconds} s, more than ${MAX_DHCP_LEASE_SECONDS} s: ${ADVICE}`;
  }
  return undefined;
}
