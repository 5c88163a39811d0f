/*! What a test file leaves behind is removed after it: helpers register their cleanup here, and
 * test/harness/per-file.ts (vitest setupFiles) runs it after every file. Outside vitest (the
 * benchmarks) nothing runs it: they clean up themselves. */

const tasks = new Set<() => unknown>();

/** Run `task` once after the current test file (registering the same function twice runs it once). */
export function afterFile(task: () => unknown): void {
  tasks.add(task);
}

/** The tasks in the reverse order of their first registration: what was set up last (an rsyslogd
 * in a scratch root) ends before what it stands on (the scratch roots). */
export async function runAfterFile(): Promise<void> {
  for (const task of [...tasks].reverse()) {
    tasks.delete(task);
    await task();
  }
}
