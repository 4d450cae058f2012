import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Knobs } from './knobs';
import { withLock } from './locks';
import { normalizeMac } from './names';
import type { TartHome } from './storage';

/**
 * The fake DHCP server. Leases live in a file in macOS bootpd's `/var/db/dhcpd_leases` format (tart.md §1.2 `ip`):
 * one `{ … }` block per lease with `hw_address=1,<mac without leading zeros>` and `lease=0x<expiry, unix seconds>`.
 * The pool is 192.168.64.2–254 (the host is .1), keyed by MAC: a MAC with a valid lease keeps its address.
 */
export interface Lease {
  name: string;
  ip: string;
  mac: string;
  /** Expiry, unix seconds. */
  expires: number;
}

const POOL_PREFIX = '192.168.64.';
const POOL_FIRST = 2;
const POOL_LAST = 254;

export function readLeases(file: string): Lease[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const leases: Lease[] = [];
  for (const block of text.split('}')) {
    const fields = new Map<string, string>();
    for (const line of block.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) {
        fields.set(line.slice(0, eq).trim().replace(/^\{/, '').trim(), line.slice(eq + 1).trim());
      }
    }
    const ip = fields.get('ip_address');
    const hw = fields.get('hw_address');
    const lease = fields.get('lease');
    if (ip && hw && lease) {
      leases.push({ name: fields.get('name') ?? '', ip, mac: hw.replace(/^1,/, ''), expires: Number(lease) });
    }
  }
  return leases;
}

function formatLeases(leases: Lease[]): string {
  return leases
    .map((l) => {
      const hw = `1,${normalizeMac(l.mac)}`;
      return `{\n\tname=${l.name}\n\tip_address=${l.ip}\n\thw_address=${hw}\n\tidentifier=${hw}\n\tlease=0x${l.expires.toString(16)}\n}\n`;
    })
    .join('');
}

/** The non-expired lease of `mac` with the latest expiry (what `tart ip --resolver dhcp` reports). */
export function findLease(file: string, mac: string, now = Date.now() / 1000): Lease | undefined {
  const wanted = normalizeMac(mac);
  return readLeases(file)
    .filter((l) => normalizeMac(l.mac) === wanted && l.expires > now)
    .sort((a, b) => b.expires - a.expires)[0];
}

/** Gives `mac` a lease (renewing its address if it still has one) and returns the address. */
export async function grantLease(home: TartHome, knobs: Knobs, name: string, mac: string): Promise<string> {
  mkdirSync(dirname(knobs.leasesFile), { recursive: true });
  return withLock(join(home.standin, 'leases.lock'), () => {
    const now = Math.floor(Date.now() / 1000);
    const wanted = normalizeMac(mac);
    const leases = readLeases(knobs.leasesFile);
    const own = leases.find((l) => normalizeMac(l.mac) === wanted && l.expires > now);
    const taken = new Set(leases.filter((l) => l.expires > now).map((l) => l.ip));
    let ip = knobs.forceIp ?? own?.ip;
    for (let host = POOL_FIRST; ip === undefined && host <= POOL_LAST; host++) {
      if (!taken.has(`${POOL_PREFIX}${host}`)) {
        ip = `${POOL_PREFIX}${host}`;
      }
    }
    if (ip === undefined) {
      // Pool exhausted (tart.md §6): like bootpd, hand out the address whose lease expires first.
      ip = leases.sort((a, b) => a.expires - b.expires)[0]?.ip ?? `${POOL_PREFIX}${POOL_FIRST}`;
    }
    const kept = leases.filter((l) => normalizeMac(l.mac) !== wanted && !(l.ip === ip && knobs.forceIp === undefined));
    kept.push({ name, ip, mac, expires: now + knobs.leaseSeconds });
    const tmp = `${knobs.leasesFile}.${process.pid}`;
    writeFileSync(tmp, formatLeases(kept));
    renameSync(tmp, knobs.leasesFile);
    return ip;
  });
}

/**
 * Bridged VMs get no DHCP lease from the host; `tart ip --resolver arp` finds them in the host's ARP cache. The
 * stand-in's ARP cache is `standin/arp.json` (MAC → address, from 192.168.1.0/24, "the LAN").
 */
export function arpFile(home: TartHome): string {
  return join(home.standin, 'arp.json');
}

export async function learnArp(home: TartHome, mac: string): Promise<string> {
  return withLock(join(home.standin, 'arp.lock'), () => {
    const table = readArp(home);
    const wanted = normalizeMac(mac);
    const used = new Set(Object.values(table));
    let ip = table[wanted];
    for (let host = 2; ip === undefined && host <= 254; host++) {
      if (!used.has(`192.168.1.${host}`)) {
        ip = `192.168.1.${host}`;
      }
    }
    table[wanted] = ip ?? '192.168.1.254';
    writeFileSync(arpFile(home), JSON.stringify(table, null, 2));
    return table[wanted];
  });
}

export function readArp(home: TartHome): Record<string, string> {
  try {
    return JSON.parse(readFileSync(arpFile(home), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}
