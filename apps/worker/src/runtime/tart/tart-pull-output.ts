/** What `tart pull` or an implicit pull of `tart clone` printed about a download. */
export interface TartDownload {
  /**
   * The compressed size of the disk Tart announced (`pulling disk (61.4 GB compressed)...`, tart.md §1.1), in bytes:
   * Tart rounds it to three digits or so, and this is as exact as that. Undefined when the line could not be read.
   */
  bytes?: number;
}

// Tart formats sizes with Foundation's file style: decimal units, and a comma as the decimal mark in some locales.
const UNITS: Record<string, number> = {
  bytes: 1,
  byte: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
};

const ANSI_ESCAPE = /\u001b\[[0-9;?]*[A-Za-z]/g;
const DISK_LINE = /pulling disk \(([^)]*) compressed\)/;
const SIZE = /^(zero|[\d.,]+)\s*([a-z]+)$/i;

/**
 * Whether the output of a `tart pull` or `tart clone` shows that it downloaded an image (its `pulling disk` line), and
 * how many bytes; undefined when nothing was downloaded (the image was cached, or the source was a local VM).
 */
export function tartDownload(stdout: string): TartDownload | undefined {
  const line = DISK_LINE.exec(stdout.replace(ANSI_ESCAPE, ''));
  if (!line) {
    return undefined;
  }
  const size = SIZE.exec(line[1].trim());
  const unit = size ? UNITS[size[2].toLowerCase()] : undefined;
  if (!size || unit === undefined) {
    return {};
  }
  const amount = size[1].toLowerCase() === 'zero' ? 0 : Number(size[1].replace(',', '.'));
  return Number.isFinite(amount) ? { bytes: Math.round(amount * unit) } : {};
}
