/** See single-executable.mjs. */
export function makeSingleExecutable(options: { main: string; out: string; assets?: Record<string, string> }): void;
