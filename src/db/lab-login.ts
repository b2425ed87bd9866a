/**
 * A login to the lab's pages (src/lab/logins.ts), kept in PostgreSQL: the browser's cookie holds only a random
 * token, the row its SHA-256. A row without user or operator is a browser on its way in (the login page's CSRF
 * token, and the OpenID Connect checks of a redirect to the provider); logging out or expiring deletes the row.
 */
import { EntitySchema, OptionalProps } from '@mikro-orm/core';
import type { User } from './entities';

/** What a redirect to the OpenID Connect provider must find again at the callback. */
export interface PendingOidc {
  state: string;
  nonce: string;
  codeVerifier: string;
}

export class LabLogin {
  [OptionalProps]?: 'operator' | 'createdAt';
  /** SHA-256 (hex) of the cookie's token: the database never holds a usable cookie. */
  id!: string;
  /** The lab config's user who logged in through OpenID Connect. */
  user?: User | null;
  /** Logged in with API_TOKEN (no OpenID Connect provider configured): the one operator. */
  operator = false;
  csrfToken!: string;
  oidc?: PendingOidc | null;
  /** Where to go after logging in (a path under /lab/). */
  returnTo?: string | null;
  createdAt: Date = new Date();
  expiresAt!: Date;
}

export const LabLoginSchema = new EntitySchema<LabLogin>({
  class: LabLogin,
  tableName: 'lab_login',
  properties: {
    id: { type: 'string', primary: true, length: 64 },
    user: { kind: 'm:1', entity: 'User', nullable: true, deleteRule: 'cascade' },
    operator: { type: 'boolean', default: false },
    csrfToken: { type: 'string', length: 64 },
    oidc: { type: 'json', nullable: true },
    returnTo: { type: 'text', nullable: true },
    createdAt: { type: 'datetime', onCreate: () => new Date() },
    expiresAt: { type: 'datetime', index: true },
  },
});
