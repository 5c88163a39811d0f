/*! Is a downloaded object the JSON Mint writes? Pure. Problems name fields and sizes, never
 * values: a problem ends up in logs and in the status file, the object's content must not. */
import { CREDENTIAL_FILES } from './plan.js';

export type CredentialFile = (typeof CREDENTIAL_FILES)[number];

/** The fields Mint writes (mint-worker external/s3.clj); extra fields are allowed and kept. */
export const REQUIRED_FIELDS: Record<CredentialFile, readonly string[]> = {
  'user.json': ['application_username', 'application_password'],
  'client.json': ['client_id', 'client_secret'],
};

export type CredentialCheck = { ok: true } | { ok: false; problem: string };

export function checkCredentialFile(file: CredentialFile, text: string): CredentialCheck {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (text.trim() === '') return { ok: false, problem: `is empty (${bytes} bytes)` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the input, which is a secret: say only that and how long it is.
    return { ok: false, problem: `is not valid JSON (${bytes} bytes; truncated or not written by Mint)` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, problem: `is ${value === null ? 'null' : Array.isArray(value) ? 'a JSON array' : `a JSON ${typeof value}`}, not a JSON object` };
  }
  const record = value as Record<string, unknown>;
  const missing = REQUIRED_FIELDS[file].filter((f) => !(f in record));
  if (missing.length) return { ok: false, problem: `lacks ${missing.join(' and ')} (Mint writes ${REQUIRED_FIELDS[file].join(' and ')})` };
  const bad = REQUIRED_FIELDS[file].filter((f) => typeof record[f] !== 'string' || (record[f] as string) === '');
  if (bad.length) return { ok: false, problem: `has ${bad.join(' and ')} that ${bad.length > 1 ? 'are not non-empty strings' : 'is not a non-empty string'}` };
  return { ok: true };
}

export function isCredentialFile(name: string): name is CredentialFile {
  return (CREDENTIAL_FILES as readonly string[]).includes(name);
}
