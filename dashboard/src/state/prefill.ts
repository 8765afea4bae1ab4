// A just-issued credential, handed from the credentials page to the console ("Try it in the
// console"). Memory only: gone on reload, never written to storage.

import { Store } from '../lib/store';
import type { AuthChoice } from './console';

export const consolePrefill = new Store<{ realmId: string; auth: AuthChoice } | null>(null);
