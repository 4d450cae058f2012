import { UsageError } from './cli.errors';

/** Orchard's and Grove's default controller port. */
export const DEFAULT_CONTROLLER_PORT = 6120;

/**
 * Normalises what a user types as a controller address: the scheme defaults to `https`, the port to 6120 (also
 * for `https://host` without a port, as in Orchard), a trailing slash is dropped and a path prefix kept.
 * `controller.example.com` → `https://controller.example.com:6120`.
 */
export function normalizeControllerUrl(input: string): string {
  const text = input.trim();
  if (text === '') {
    throw new UsageError('the controller URL is empty');
  }
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`invalid controller URL "${input}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`invalid controller URL "${input}": the scheme must be http or https`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new UsageError(
      `invalid controller URL "${input}": put credentials in --service-account-name and --service-account-token, not in the URL`,
    );
  }
  if (url.hostname === '') {
    throw new UsageError(`invalid controller URL "${input}": the host is missing`);
  }
  // WHATWG URL drops a port equal to the scheme's default (https://x:443 → port ""), so look at what was typed.
  if (!hasExplicitPort(withScheme)) {
    url.port = String(DEFAULT_CONTROLLER_PORT);
  }
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.protocol}//${url.host}${path}`;
}

function hasExplicitPort(text: string): boolean {
  const authority = text.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split(/[/?#]/, 1)[0];
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  return host.startsWith('[') ? /\]:\d+$/.test(host) : /:\d+$/.test(host);
}
