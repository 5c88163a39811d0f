/*! A value that never prints, and the key patterns that mark a value as secret.
 *
 * `Secret` holds plaintext (KMS results, Mint credentials) and renders as `[redacted]` through
 * every path Node offers: String(), template literals, JSON.stringify, util.inspect / console.log.
 * `reveal()` is called only where the value is handed to its consumer (container env, a file). */
import { inspect } from 'node:util';

export const REDACTED = '[redacted]';

const values = new WeakMap<Secret, string>();

export class Secret {
  /** A short, non-secret label saying where it came from (e.g. "environment.DB_PASSWORD"). */
  readonly label: string;

  constructor(value: string, label = 'secret') {
    values.set(this, value);
    this.label = label;
    Object.freeze(this);
  }

  reveal(): string {
    return values.get(this) as string;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

export function isSecret(v: unknown): v is Secret {
  return v instanceof Secret;
}

/** Keys whose values are secret by name, as the original Taupage decided (is_sensitive_key). */
export const SECRET_KEY_PATTERN = /pass|secret|private/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY_PATTERN.test(key);
}

/** A deep copy with every secret-named key's value and every Secret replaced by `[redacted]`. */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (depth > 20) return '[too deep]';
  if (value instanceof Secret) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  if (value instanceof Error) return value;
  if (value !== null && typeof value === 'object' && !(value instanceof Date) && !Buffer.isBuffer(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = isSecretKey(k) && v !== null && v !== undefined ? REDACTED : redactDeep(v, depth + 1);
    }
    return out;
  }
  return value;
}
