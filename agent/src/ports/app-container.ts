/*! The application container as batch shutdown needs it: wait until it has exited.
 * Implemented over dockerode by the container adapter (issue 4). */

export interface AppContainer {
  /**
   * Resolves with the container's exit code once it is no longer running (at once when it has
   * already exited). Rejects with an AgentError (TPG_CONTAINER_FAILED, TPG_DOCKER_UNAVAILABLE)
   * when there is no application container or the engine cannot be asked, and with the signal's
   * reason when `signal` aborts.
   */
  waitForExit(signal?: AbortSignal): Promise<number>;
}
