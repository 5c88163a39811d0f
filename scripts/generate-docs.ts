// Write the generated documents (docs/*.md) from the schemas and the error table.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatedDocs } from '../agent/src/docs/generate.js';

const root = join(import.meta.dirname, '..');
for (const [file, text] of Object.entries(generatedDocs())) {
  writeFileSync(join(root, file), text);
  console.error(`wrote ${file}`);
}
