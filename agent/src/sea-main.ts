/*! The single executable's entry (scripts/build.mjs --sea builds it as the executable's main script).
 *
 * `taupage ssh-hook` is granting-service's forced command and must start about as fast as
 * `node -e 0`; compiling (or even deserializing the code cache of) the whole 2.4 MB agent costs
 * a third more than that. So the main script is only this and the thin client: `ssh-hook` runs at
 * once, and every other command reads the agent bundle from the executable's assets and runs it
 * with the V8 code cache made at build time for it (`boot` and `credentials` have caches warmed by
 * a run of the command), exactly as when it was the main script (bin.ts).
 * The ESM bundle (agent/dist/taupage.mjs) has no such split: there bin.ts is the entry. */
import { getAsset, getRawAsset } from 'node:sea';
import { Script } from 'node:vm';
import { runSshHook } from './cli/ssh-hook.js';
import { exitWhenFlushed, processIo } from './cli/io.js';
import { EXIT } from './lib/errors.js';

/** Asset names, shared with scripts/build.mjs. */
export const AGENT_ASSET = 'taupage.cjs';
export const AGENT_CACHE_ASSET = 'taupage.cache';
/** The same cache made after one `credentials --once` (scripts/sea-code-cache.cjs): for that command. */
export const CREDENTIALS_CACHE_ASSET = 'taupage-credentials.cache';
/** The same cache made after one whole `boot` against loopback stand-ins: for that command. */
export const BOOT_CACHE_ASSET = 'taupage-boot.cache';

const args = process.argv.slice(2);
if (args[0] === 'ssh-hook' && !args.includes('--help') && !args.includes('-h')) {
  runSshHook(args.slice(1), processIo()).then(
    (code) => exitWhenFlushed(code),
    (e) => {
      process.stderr.write(`taupage: fatal: ${e instanceof Error ? e.stack : String(e)}\n`);
      exitWhenFlushed(EXIT.INTERNAL);
    },
  );
} else {
  // The asset is the CommonJS bundle already wrapped as `(function (exports, require, module,
  // __filename, __dirname) { ... })`, the form the code cache was made for.
  const cache = args[0] === 'credentials' ? CREDENTIALS_CACHE_ASSET : args[0] === 'boot' ? BOOT_CACHE_ASSET : AGENT_CACHE_ASSET;
  const script = new Script(getAsset(AGENT_ASSET, 'utf8'), { filename: AGENT_ASSET, cachedData: Buffer.from(getRawAsset(cache) as ArrayBuffer) });
  // A rejected cache (V8 flags differ from the build's) still runs, only slower: tests check it is used.
  if (process.env.TAUPAGE_DEBUG_SEA) process.stderr.write(`taupage: code cache ${cache} ${script.cachedDataRejected ? 'rejected' : 'accepted'}\n`);
  (script.runInThisContext() as (...a: unknown[]) => void)(module.exports, require, module, __filename, __dirname);
}
