import { TartRuntimeError } from './errors';

/** A remote image name `host[:port]/namespace[/more][:tag|@sha256:<hex>]` (tart.md §1.1). */
export interface RemoteName {
  host: string;
  namespace: string;
  /** `tag` unless the name carried a digest; defaults to `latest`. */
  reference: { kind: 'tag'; tag: string } | { kind: 'digest'; digest: string };
}

const REMOTE =
  /^([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d+)?)\/([A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(sha256:[a-f0-9]{64}))?$/;

/** The remote name `name` denotes, or undefined for a local name. */
export function parseRemoteName(name: string): RemoteName | undefined {
  const match = REMOTE.exec(name);
  if (!match) {
    return undefined;
  }
  const [, host, namespace, tag, digest] = match;
  return {
    host,
    namespace,
    reference: digest !== undefined ? { kind: 'digest', digest } : { kind: 'tag', tag: tag ?? 'latest' },
  };
}

/** Like parseRemoteName for commands that need a remote name (`pull`). */
export function requireRemoteName(name: string): RemoteName {
  const remote = parseRemoteName(name);
  if (!remote) {
    throw new TartRuntimeError(`failed to parse remote name: ${name}`);
  }
  return remote;
}

export function repository(remote: RemoteName): string {
  return `${remote.host}/${remote.namespace}`;
}

export function formatRemoteName(remote: RemoteName): string {
  return remote.reference.kind === 'tag'
    ? `${repository(remote)}:${remote.reference.tag}`
    : `${repository(remote)}@${remote.reference.digest}`;
}

/** A random locally-administered unicast MAC, lower case. */
export function randomMac(): string {
  const bytes = Array.from({ length: 6 }, () => Math.floor(Math.random() * 256));
  bytes[0] = (bytes[0] & 0xfe) | 0x02;
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** A MAC compared the way bootpd writes it (octets without leading zeros, lower case). */
export function normalizeMac(mac: string): string {
  return mac
    .toLowerCase()
    .split(':')
    .map((octet) => octet.replace(/^0+(?=.)/, ''))
    .join(':');
}
