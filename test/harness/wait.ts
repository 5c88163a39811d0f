/*! Waiting for something a process or a server does in its own time. */

/** Poll `check` every 25 ms until it returns something truthy, and return that; fails after
 * `timeoutMs`, naming `what`. An exception from `check` ends the wait at once. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
