/*! Which credentials the trust check and the pull send to the image's registry: the instance
 * identity for Pier One (registries listed in pierone.registries), the team's dockercfg entry
 * for other registries, or none. The same credentials serve both calls. */
import { AgentError } from '../../lib/errors.js';
import { Secret } from '../../lib/secret.js';
import type { RegistryCredentials } from '../../ports/registry-trust.js';
import type { BootContext } from '../context.js';

export const PIERONE_USER = 'instance-identity-document';

export async function registryCredentials(
  registry: string,
  ctx: Pick<BootContext, 'config' | 'settings' | 'ports' | 'signal'>,
): Promise<RegistryCredentials | undefined> {
  if (ctx.config.pierone.registries.includes(registry)) {
    const pkcs7 = (await ctx.ports.imds.identitySignature(ctx.signal)).trim();
    if (!pkcs7)
      throw new AgentError('TPG_IMDS_UNAVAILABLE', 'the instance metadata service returned an empty identity signature', {
        hint: 'Pier One login needs /latest/dynamic/instance-identity/pkcs7',
      });
    return { username: PIERONE_USER, password: new Secret(pkcs7, 'instance identity signature') };
  }
  return fromDockercfg(registry, ctx.settings.dockercfg);
}

/** A dockercfg `auths` entry for `registry`: `{auth: base64(user:pass)}` or `{username, password}`. */
export function fromDockercfg(registry: string, dockercfg: Record<string, unknown> | undefined): RegistryCredentials | undefined {
  if (!dockercfg) return undefined;
  for (const [key, entry] of Object.entries(dockercfg)) {
    const host = key.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
    if (host !== registry || !entry || typeof entry !== 'object') continue;
    const e = entry as { auth?: unknown; username?: unknown; password?: unknown };
    if (typeof e.username === 'string' && typeof e.password === 'string')
      return { username: e.username, password: new Secret(e.password, `dockercfg ${host}`) };
    if (typeof e.auth === 'string') {
      const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { username: decoded.slice(0, colon), password: new Secret(decoded.slice(colon + 1), `dockercfg ${host}`) };
    }
  }
  return undefined;
}
