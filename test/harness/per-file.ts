/*! vitest setupFiles: what every test file gets without asking: its scratch roots removed after it. */
import { afterAll } from 'vitest';
import { removeScratchRoots } from './scratch.js';

afterAll(removeScratchRoots);
