/*! The agent's log as tests read it: pino JSON lines, parsed. */

/** Every non-empty line of `text`, parsed: a line that is not JSON fails the test. */
export function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
