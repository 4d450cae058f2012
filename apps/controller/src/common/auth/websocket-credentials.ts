/**
 * Credentials of browser WebSockets (issue 16, docs/console.md): a browser cannot set headers on a WebSocket
 * handshake, so the web console offers its service account as a subprotocol, `grove.basic.<base64url(name:token)>`,
 * beside `grove.console`. The controller reads it when there is no Authorization header and never selects it: a
 * selected protocol is echoed in the answer, and the secret must not be.
 */
export const CREDENTIAL_PROTOCOL_PREFIX = 'grove.basic.';

/** The protocol the console offers for the server to select when the endpoint has none of its own. */
export const CONSOLE_PROTOCOL = 'grove.console';

/** Whether a subprotocol carries credentials (and so must never be selected). */
export function isCredentialProtocol(protocol: string): boolean {
  return protocol.startsWith(CREDENTIAL_PROTOCOL_PREFIX);
}

/**
 * The credentials of a `Sec-WebSocket-Protocol` header's `grove.basic.*` entry; undefined when there is none or it
 * is malformed (not base64url, no colon).
 */
export function parseCredentialProtocol(
  header: string | string[] | undefined,
): { name: string; token: string } | undefined {
  const text = Array.isArray(header) ? header.join(',') : header;
  if (!text) {
    return undefined;
  }
  for (const entry of text.split(',')) {
    const protocol = entry.trim();
    if (!isCredentialProtocol(protocol)) {
      continue;
    }
    const encoded = protocol.slice(CREDENTIAL_PROTOCOL_PREFIX.length);
    if (!/^[A-Za-z0-9_-]+$/.test(encoded)) {
      return undefined;
    }
    const decoded = Buffer.from(encoded, 'base64url').toString('utf8');
    const idx = decoded.indexOf(':');
    return idx < 0 ? undefined : { name: decoded.slice(0, idx), token: decoded.slice(idx + 1) };
  }
  return undefined;
}

/**
 * The subprotocol a WebSocket endpoint selects among those offered: the first of `preferred` offered, else (when
 * `firstOffered`) the first protocol offered, as `ws` does by default; never a credential one. False selects none.
 * Chromium fails a handshake where it offered protocols and none was selected, so the console always offers
 * `grove.console`.
 */
export function selectProtocol(offered: Set<string>, preferred: string[], firstOffered = false): string | false {
  for (const protocol of preferred) {
    if (offered.has(protocol)) {
      return protocol;
    }
  }
  if (firstOffered) {
    for (const protocol of offered) {
      if (!isCredentialProtocol(protocol)) {
        return protocol;
      }
    }
  }
  return false;
}
