/**
 * The VM's `Set-Cookie` headers as the browser gets them through a preview (docs/console.md): every preview is on the
 * controller's origin, so a cookie the VM sets for `Path=/` would go to every other VM's previews too (a session
 * cookie of one VM's application read by another VM's server), and one with a `Domain` to sites beside the
 * controller. The cookie's path is moved under the preview's prefix and its `Domain` dropped, so that it stays with
 * this link, as a reverse proxy mounted under a path does.
 */
export function scopePreviewCookie(cookie: string, prefix: string): string {
  const [pair, ...attributes] = cookie.split(';');
  const kept: string[] = [pair];
  for (const attribute of attributes) {
    const [name, ...value] = attribute.split('=');
    const key = name.trim().toLowerCase();
    if (key === 'domain') {
      continue;
    }
    if (key === 'path') {
      const path = value.join('=').trim();
      // A path not starting with a slash means the default path (RFC 6265 §5.2.4), which is under the prefix already.
      kept.push(path.startsWith('/') ? ` Path=${prefix}${path}` : attribute);
      continue;
    }
    kept.push(attribute);
  }
  return kept.join(';');
}
