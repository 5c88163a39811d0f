/*! Asking the image's registry (Pier One) whether an image is approved for production, and which
 * exact manifest the tag names right now. Implemented over undici in adapters/pierone.ts. */
import type { ImageRef } from '../values/image-ref.js';
import type { Secret } from '../lib/secret.js';

/** Basic-auth credentials for a registry (Pier One: the instance identity). */
export interface RegistryCredentials {
  username: string;
  password: Secret;
}

export interface ApprovedImage {
  /** `Docker-Content-Digest` of the manifest the tag named at the time of the check. */
  digest: string;
  /** Media type of that manifest (Docker v2 / OCI, single image or index). */
  mediaType: string;
}

export interface RegistryTrust {
  /**
   * Resolve `image`'s tag and confirm the registry marks it approved. Fails closed with an
   * AgentError: TPG_IMAGE_UNTRUSTED (with the registry's reason), TPG_IMAGE_NOT_FOUND,
   * TPG_REGISTRY_AUTH, TPG_REGISTRY_UNAVAILABLE (after retries, by `deadline`).
   */
  approve(image: ImageRef, options: { credentials?: RegistryCredentials; signal?: AbortSignal; deadline?: number }): Promise<ApprovedImage>;
}
