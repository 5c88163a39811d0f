/*! One HTTP GET for health checks: the status code, or a thrown error when nothing answered.
 * Implemented over undici in adapters/http-probe.ts. */

export interface HttpProbe {
  status(url: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<number>;
}
