import type { ExecFrame } from '@grove/resources';

/*
 * The exec WebSocket's frames as the browser reads and writes them (docs/exec.md): JSON text messages whose `data` is
 * base64 of raw bytes.
 */

/** Base64 of raw bytes (the browser's btoa takes one character per byte). */
export function bytesToBase64(bytes: Uint8Array): string {
  let text = '';
  // Chunks keep String.fromCharCode's argument list short.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

/** Raw bytes of base64 text; an invalid text gives no bytes (the controller never sends one). */
export function base64ToBytes(data: string | undefined): Uint8Array {
  if (!data) {
    return new Uint8Array(0);
  }
  try {
    const text = atob(data);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      bytes[i] = text.charCodeAt(i);
    }
    return bytes;
  } catch {
    return new Uint8Array(0);
  }
}

/** A text message as a frame, or undefined when it is not JSON with a `type` (binary messages are not frames). */
export function parseFrame(data: unknown): ExecFrame | undefined {
  if (typeof data !== 'string') {
    return undefined;
  }
  try {
    const frame = JSON.parse(data) as unknown;
    if (typeof frame === 'object' && frame !== null && typeof (frame as ExecFrame).type === 'string') {
      return frame as ExecFrame;
    }
  } catch {
    // not a frame of this protocol
  }
  return undefined;
}

/**
 * The command line that starts the account's login shell in the VM (the exec endpoint runs it with `/bin/sh -c`):
 * `$SHELL` when the environment has one, else the user's shell from the password database (`getent` on Linux,
 * Directory Services on macOS), else /bin/sh.
 */
export const LOGIN_SHELL_COMMAND = [
  's="${SHELL:-}"',
  '[ -x "$s" ] || s="$(getent passwd "$(id -un)" 2>/dev/null | cut -d: -f7)"',
  '[ -x "$s" ] || s="$(dscl . -read "/Users/$(id -un)" UserShell 2>/dev/null | sed "s/^UserShell: *//")"',
  '[ -x "$s" ] || s=/bin/sh',
  'exec "$s" -l',
].join('; ');

/**
 * A close event in words: 1006 is what a browser reports for a refused handshake and for a cut connection, 1005 for a
 * close without a status (the page's own, or a proxy's).
 */
export function describeClose(event: Pick<CloseEvent, 'code' | 'reason'>): string {
  if (event.code === 1006 || (event.code === 1005 && event.reason === '')) {
    return 'the connection dropped';
  }
  return event.reason !== '' ? event.reason : `closed with code ${event.code}`;
}
