/*! The running application container as the shutdown step sees it. */

export interface AppContainer {
  waitForExit(signal?: AbortSignal): Promise<number>;
}
