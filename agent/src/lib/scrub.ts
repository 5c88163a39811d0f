/*! The last net under `Secret`: every plaintext the agent decrypts is registered here, and log
 * lines and status files pass through `scrub`, which replaces any registered plaintext with
 * `[redacted]`. It catches what a type cannot: a plaintext that a library echoed into an error
 * message, or that a step put into a string by mistake. */
import { REDACTED } from './secret.js';

/** Shorter values are not scrubbed: they would blank out ordinary words and numbers. */
export const MIN_SCRUB_LENGTH = 4;

export class Scrubber {
  private readonly needles = new Set<string>();
  /** The needles longest first, made again after an add. */
  private ordered?: string[];

  add(plaintext: string): void {
    if (plaintext.length < MIN_SCRUB_LENGTH) return;
    this.needles.add(plaintext);
    // The same text as it appears inside a JSON string (quotes, backslashes, control characters).
    const escaped = JSON.stringify(plaintext).slice(1, -1);
    if (escaped !== plaintext) this.needles.add(escaped);
    this.ordered = undefined;
  }

  get size(): number {
    return this.needles.size;
  }

  scrub(text: string): string {
    if (!this.needles.size) return text;
    let out = text;
    // Longest first, so a secret that contains another is replaced whole.
    this.ordered ??= [...this.needles].sort((a, b) => b.length - a.length);
    for (const n of this.ordered) if (out.includes(n)) out = out.split(n).join(REDACTED);
    return out;
  }

  /** A pino destination that scrubs each line before handing it on. */
  stream(inner: { write(line: string): unknown }): { write(line: string): void } {
    return { write: (line: string) => void inner.write(this.scrub(line)) };
  }
}
