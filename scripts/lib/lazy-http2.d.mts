/** See lazy-http2.mjs. */
import type { Plugin } from 'esbuild';
export const lazyHttp2: Plugin;
