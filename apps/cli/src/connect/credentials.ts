/** A login for a VM's SSH or VNC server. */
export interface Credentials {
  username: string;
  password: string;
}

/** Orchard's and Tart's images' default login. */
export const DEFAULT_CREDENTIALS: Credentials = { username: 'admin', password: 'admin' };

/**
 * The login for `grove ssh` and `grove vnc vm`, as Orchard picks it: each flag given wins; otherwise the VM's own
 * `username` and `password` when **both** are set (one alone is ignored, it could not log in); otherwise admin/admin.
 */
export function resolveCredentials(
  flags: { username?: string; password?: string },
  vm: { username?: string; password?: string } | undefined,
): Credentials {
  const fallback = vm?.username && vm.password ? { username: vm.username, password: vm.password } : DEFAULT_CREDENTIALS;
  return {
    username: flags.username || fallback.username,
    password: flags.password || fallback.password,
  };
}

/**
 * `vnc://[USER[:PASSWORD]@]HOST:PORT`, what macOS Screen Sharing and other viewers open. The user info is
 * percent-encoded, so a password with `@` or `:` survives.
 */
export function vncUrl(host: string, port: number, login: { username?: string; password?: string } = {}): string {
  const user = login.username ? encodeURIComponent(login.username) : '';
  const password = login.username && login.password ? `:${encodeURIComponent(login.password)}` : '';
  const userInfo = user ? `${user}${password}@` : '';
  return `vnc://${userInfo}${hostForUrl(host)}:${port}`;
}

/** An IPv6 address in brackets, as URLs and `HOST:PORT` texts need it. */
export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
