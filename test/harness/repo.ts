/*! Where things are: the repository root, the built agent, the user-data fixtures. Every test,
 * benchmark and fake takes its paths from here. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** `npm run build`: the ESM bundle users run as `node agent/dist/taupage.mjs`. */
export const AGENT_BUNDLE = join(REPO, 'agent/dist/taupage.mjs');
/** `npm run build:sea`: the single executable the image installs. */
export const AGENT_SEA = join(REPO, 'agent/dist/taupage');

export const fixture = (name: string): string => join(REPO, 'test/fixtures/user-data', name);
