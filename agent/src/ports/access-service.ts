/*! Even, the access-granting service, as the SSH hook needs it: one user's public key. */

export interface AccessService {
  /** The user's public key as Even serves it (text/plain), or an AgentError (404 is not retried). */
  publicKey(user: string, signal?: AbortSignal): Promise<string>;
}
