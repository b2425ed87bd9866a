/**
 * A real OpenID Connect provider (the oidc-provider package) on 127.0.0.1, in a process of its own (the package
 * is ESM-only, which jest's module sandbox cannot load). Its development login form takes any email as the login
 * (and any password); the account's claims are that email, verified. Prints "ready <issuer>" once it listens.
 *   node -r ts-node/register/transpile-only test/support/oidc-provider.ts <port> <clientId> <clientSecret> <redirectUri>
 */
import * as oidcProvider from 'oidc-provider';

function main(): void {
  const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
  const issuer = `http://127.0.0.1:${port}`;
  const Provider = oidcProvider.default;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        response_types: ['code'],
        grant_types: ['authorization_code'],
      },
    ],
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, email: id, email_verified: true }),
    }),
    cookies: { keys: ['a-key-for-this-test-provider-only'] },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
  });
  provider.listen(Number(port), () => console.log(`ready ${issuer}`));
}

main();
