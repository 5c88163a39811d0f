/** See single-executable.mjs. */
export const SEA_NODE: string;
export function seaNode(): string;
export function seaNodeVersion(): string;
export function makeSingleExecutable(options: { main: string; out: string; assets?: Record<string, string> }): void;
