import type { FieldError } from '@grove/resources';
import { sshKeyFingerprint } from '@grove/resources';
import { utils, type ParsedKey } from 'ssh2';

/** A validated public key, ready to store. */
export interface ParsedPublicKey {
  type: string;
  /** The key in the SSH wire encoding (what clients send when they log in). */
  blob: Buffer;
  fingerprint: string;
  comment: string;
}

/** Longest key line accepted: an RSA 16384-bit key line is about 2.8 KB. */
export const MAX_PUBLIC_KEY_LENGTH = 8192;
export const MAX_SSH_KEY_COMMENT_LENGTH = 256;

/** Algorithms OpenSSH no longer accepts by default; a key of these would never work for a login. */
const REFUSED_TYPES: Record<string, string> = {
  'ssh-dss': 'DSA keys are obsolete and refused by current SSH clients; use an ed25519 key (ssh-keygen -t ed25519)',
};

/**
 * Parses one OpenSSH public key line (`ssh-ed25519 AAAA… comment`, the content of a `.pub` file) with ssh2's key
 * parser. Returns the problems found with the `field` they belong to, so that the API can answer 400 naming it.
 * Private keys are refused explicitly: a user who pastes the wrong file must hear that it is secret.
 */
export function parsePublicKeyLine(text: string, field = 'publicKey'): ParsedPublicKey | FieldError[] {
  const line = text.trim();
  if (line === '') {
    return [{ field, message: `${field} must not be empty` }];
  }
  if (line.length > MAX_PUBLIC_KEY_LENGTH) {
    return [{ field, message: `${field} must be at most ${MAX_PUBLIC_KEY_LENGTH} characters long` }];
  }
  if (/PRIVATE KEY-----/.test(line)) {
    return [
      {
        field,
        message: `${field} is a private key: attach the public key (the .pub file) and keep the private key secret`,
      },
    ];
  }
  if (/[\r\n]/.test(line)) {
    return [
      { field, message: `${field} must be a single key line ("ssh-ed25519 AAAA… comment"), one key per request` },
    ];
  }
  // ssh2 returns an array for files with several keys, though its type declarations say otherwise.
  const parsed: unknown = utils.parseKey(line);
  if (parsed instanceof Error) {
    return [
      {
        field,
        message: `${field} is not an OpenSSH public key ("ssh-ed25519 AAAA… comment"): ${parsed.message.toLowerCase()}`,
      },
    ];
  }
  if (Array.isArray(parsed) || !parsed) {
    return [{ field, message: `${field} must hold exactly one key` }];
  }
  const key = parsed as ParsedKey;
  if (key.isPrivateKey()) {
    return [
      {
        field,
        message: `${field} is a private key: attach the public key (the .pub file) and keep the private key secret`,
      },
    ];
  }
  const refused = REFUSED_TYPES[key.type];
  if (refused) {
    return [{ field, message: `${field}: ${refused}` }];
  }
  const blob = key.getPublicSSH();
  return { type: key.type, blob, fingerprint: sshKeyFingerprint(blob), comment: key.comment ?? '' };
}

/** Parses a key in its SSH wire encoding (as received during a login); undefined when it is not a usable key. */
export function parsePublicKeyBlob(blob: Buffer): ParsedKey | undefined {
  const parsed: unknown = utils.parseKey(blob);
  if (parsed instanceof Error || Array.isArray(parsed) || !parsed || (parsed as ParsedKey).isPrivateKey()) {
    return undefined;
  }
  return parsed as ParsedKey;
}
