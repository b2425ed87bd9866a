/** The login page, and the pages that say why someone cannot come in or do something. */
import { Layout, Notice, type PageContext } from './parts';

export type LoginMode = 'oidc' | 'token' | 'off';

export function LoginPage(props: { page: PageContext; mode: LoginMode; notice?: string; alert?: string }) {
  return (
    <Layout page={props.page} title="Log in">
      <Notice text={props.alert} alert />
      <Notice text={props.notice} />
      {props.mode === 'oidc' && (
        <form method="post" action="/lab/login">
          <input type="hidden" name="_csrf" value={props.page.csrf} />
          <button type="submit">Log in with the lab's account</button>
        </form>
      )}
      {props.mode === 'token' && (
        <form method="post" action="/lab/login">
          <input type="hidden" name="_csrf" value={props.page.csrf} />
          <label>
            API token
            <input type="password" name="token" autocomplete="current-password" required />
          </label>
          <button type="submit">Log in</button>
        </form>
      )}
      {props.mode === 'off' && (
        <p>
          Logins are off: the service has neither an OpenID Connect provider (<code>OIDC_ISSUER</code>) nor an{' '}
          <code>API_TOKEN</code>. Ask whoever runs it.
        </p>
      )}
      {props.mode === 'token' && <p>The service's operator logs in with its API token (API_TOKEN).</p>}
    </Layout>
  );
}

/** A page that says no, in words a person can act on: not in the config (403), not found (404), forged form (403). */
export function RefusalPage(props: { page: PageContext; title: string; text: string; hint?: string }) {
  return (
    <Layout page={props.page} title={props.title}>
      <p>{props.text}</p>
      {props.hint && <p>{props.hint}</p>}
      <p>
        <a href="/lab/">Back to the studies</a>
      </p>
    </Layout>
  );
}
