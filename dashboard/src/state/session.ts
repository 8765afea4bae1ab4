// Who is logged in. Nothing here is persisted: the HttpOnly cookies are the session, and a
// reload asks the API again (`GET /v1/me`, refreshing once if the access token expired).

import { api, ApiError } from '../api/client';
import { auth, realms as realmsApi } from '../api/endpoints';
import type { Me, Realm } from '../api/types';
import { Store } from '../lib/store';

export type SessionStatus = { status: 'loading' } | { status: 'anonymous' } | { status: 'authenticated'; me: Me };

export const sessionStore = new Store<SessionStatus>({ status: 'loading' });

/** The tenant's realms, shared by the sidebar and the pages. */
export const realmsStore = new Store<{ items: Realm[]; loaded: boolean }>({ items: [], loaded: false });

export async function reloadRealms(): Promise<Realm[]> {
  const items = await realmsApi.list();
  realmsStore.set({ items, loaded: true });
  return items;
}

export async function loadSession(): Promise<void> {
  try {
    const me = await auth.me();
    sessionStore.set({ status: 'authenticated', me });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) sessionStore.set({ status: 'anonymous' });
    else throw e;
  }
}

export async function logout(): Promise<void> {
  try {
    await auth.logout();
  } finally {
    realmsStore.set({ items: [], loaded: false });
    sessionStore.set({ status: 'anonymous' });
  }
}

api.onUnauthorized(() => {
  if (sessionStore.get().status === 'authenticated') sessionStore.set({ status: 'anonymous' });
});
