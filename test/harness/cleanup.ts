/*! What a test file leaves behind is removed after it: helpers register their cleanup here, and
 * test/harness/per-file.ts (vitest setupFiles) runs it after every file. Outside vitest (the
 * benchmarks) nothing runs it: they clean up themselves. */

const tasks = new Set<() => unknown>();

/** Run `task` once after the current test file (registering the same function twice runs it once). */
export function afterFile(task: () => unknown): void {
  tasks.add(task);
}

export async function runAfterFile(): Promise<void> {
  for (const task of [...tasks]) {
    tasks.delete(task);
    await task();
  }
}
