/*! `taupage schema`: the user-data JSON Schema for editors, or the Markdown reference. */
import { parseCommandArgs } from './args.js';
import type { Io } from './io.js';
import { userDataJsonSchema } from '../user-data/json-schema.js';
import { EXIT } from '../lib/errors.js';

export async function runSchema(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs(argv, { markdown: { type: 'boolean' } }, 'taupage schema [--markdown]', { min: 0, max: 0 });
  // The Markdown reference lists every step (and so loads them all); the JSON Schema needs none.
  io.out(values.markdown ? (await import('../docs/generate.js')).userDataReference() : `${JSON.stringify(userDataJsonSchema(), null, 2)}\n`);
  return EXIT.OK;
}
