/*! The agent's version and the commit it was built from, replaced at build time by esbuild
 * (`define`, scripts/build.mjs); "0.0.0-dev" and "unknown" when run from source. */
declare const __TAUPAGE_VERSION__: string | undefined;
declare const __TAUPAGE_COMMIT__: string | undefined;
export const VERSION: string = typeof __TAUPAGE_VERSION__ === 'string' ? __TAUPAGE_VERSION__ : '0.0.0-dev';
export const COMMIT: string = typeof __TAUPAGE_COMMIT__ === 'string' ? __TAUPAGE_COMMIT__ : 'unknown';

/** `taupage --version`: what a person reporting a problem pastes (the runtime is the image's Node). */
export function versionLine(): string {
  return `taupage ${VERSION} (commit ${COMMIT}, node ${process.version})`;
}
