import { createHash } from 'node:crypto';

/**
 * An SSH public key attached to a service account: the account can log in to the controller's SSH gateway with the
 * matching private key instead of its token (docs/ssh-gateway.md).
 */
export interface SshKey {
  /** OpenSSH-style fingerprint of the key, `SHA256:<base64 without padding>` (what `ssh-keygen -l` prints). */
  fingerprint: string;
  /** Key algorithm, e.g. `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`. */
  type: string;
  /** The key in `authorized_keys` form: `<type> <base64>` (without the comment). */
  publicKey: string;
  /** Free text, by default the comment of the key line (often `user@host`). */
  comment: string;
  /** When the key was attached (RFC 3339). */
  createdAt: string;
}

/** `POST /v1/service-accounts/{name}/ssh-keys`. */
export interface SshKeyCreateInput {
  /** One OpenSSH public key line (`ssh-ed25519 AAAA… comment`), as in a `.pub` file. */
  publicKey: string;
  /** Overrides the comment of the key line. */
  comment?: string;
}

/** The OpenSSH SHA-256 fingerprint (`SHA256:…`) of a public key in its SSH wire encoding. */
export function sshKeyFingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Accepts a fingerprint with or without its `SHA256:` prefix and returns it with the prefix. */
export function normalizeSshKeyFingerprint(text: string): string {
  const trimmed = text.trim();
  return trimmed.startsWith('SHA256:') ? trimmed : `SHA256:${trimmed}`;
}
