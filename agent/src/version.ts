/*! The agent's version, replaced at build time by esbuild (`define`); "dev" when run from source. */
declare const __TAUPAGE_VERSION__: string | undefined;
export const VERSION: string = typeof __TAUPAGE_VERSION__ === 'string' ? __TAUPAGE_VERSION__ : '0.0.0-dev';
