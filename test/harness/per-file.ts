/*! vitest setupFiles: after every test file, what it left behind (scratch roots, ports its boot
 * contexts made) is removed (test/harness/cleanup.ts). */
import { afterAll } from 'vitest';
import { runAfterFile } from './cleanup.js';

afterAll(runAfterFile);
