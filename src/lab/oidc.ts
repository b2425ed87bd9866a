/**
 * Logging in with the lab's OpenID Connect provider (openid-client): the authorization code flow with PKCE, state
 * and nonce. The provider's metadata is discovered once, at the first login (again after a failure).
 */
import * as oidc from 'openid-client';
import type { PendingOidc } from '../db/lab-login';

/** Why a login did not complete, in words for the login page (never a secret: no token, no code). */
export class LoginFailed extends Error {}

export interface OidcLogin {
  /** Where to send the browser, and the checks to keep for the callback. */
  start(): Promise<{ url: string; checks: PendingOidc }>;
  /** The email of the person the provider sends back (query: the callback's query string). */
  finish(query: string, checks: PendingOidc): Promise<{ email: string }>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

export function oidcLogin(settings: {
  issuer: string;
  clientId: string;
  clientSecret: string;
  publicUrl: string;
}): OidcLogin {
  const redirectUri = `${settings.publicUrl}/lab/auth/callback`;
  let discovered: Promise<oidc.Configuration> | undefined;
  const configuration = (): Promise<oidc.Configuration> => {
    discovered ??= oidc
      .discovery(new URL(settings.issuer), settings.clientId, settings.clientSecret, undefined, {
        // Plain http is refused by openid-client; src/config.ts allows it for an issuer on this machine only.
        execute: LOOPBACK.test(new URL(settings.issuer).hostname) ? [oidc.allowInsecureRequests] : [],
        timeout: 10,
      })
      .catch((err: unknown) => {
        discovered = undefined;
        throw new LoginFailed(`The login provider did not answer (${describe(err)}); try again in a moment`);
      });
    return discovered;
  };

  return {
    async start() {
      const config = await configuration();
      const checks = {
        state: oidc.randomState(),
        nonce: oidc.randomNonce(),
        codeVerifier: oidc.randomPKCECodeVerifier(),
      };
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid email',
        state: checks.state,
        nonce: checks.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: 'S256',
      });
      return { url: url.href, checks };
    },

    async finish(query, checks) {
      const config = await configuration();
      const callback = new URL(redirectUri);
      callback.search = query;
      let tokens;
      try {
        tokens = await oidc.authorizationCodeGrant(config, callback, {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
        });
      } catch (err) {
        if (err instanceof oidc.AuthorizationResponseError) {
          throw new LoginFailed(`The login provider refused: ${err.error_description ?? err.error}`);
        }
        throw new LoginFailed(`The login could not be completed: ${describe(err)}`);
      }
      const claims = tokens.claims()!;
      let email = typeof claims.email === 'string' ? claims.email : undefined;
      let verified = claims.email_verified;
      if (!email) {
        // Many providers give the email only through their userinfo endpoint.
        const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub).catch((err: unknown) => {
          throw new LoginFailed(`The login provider did not say who you are: ${describe(err)}`);
        });
        email = info.email;
        verified = info.email_verified;
      }
      if (!email)
        throw new LoginFailed('The login provider gave no email address, so you cannot be found in the lab config');
      // (No address in the message: it is logged.)
      if (verified === false) throw new LoginFailed('The login provider has not verified your email address');
      return { email };
    },
  };
}

/** openid-client wraps what went wrong ("unexpected state") in a general error ("invalid response encountered"). */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? err.cause.message : err.message;
}
