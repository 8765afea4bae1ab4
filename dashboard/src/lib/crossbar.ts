// Reading a Crossbar.io config before sending its roles to `POST .../roles/import`: accepts a
// whole config.json (first realm with roles, or the one named), a realm object, `{"roles": []}`
// or the bare array, and says what it found.

export interface ImportPreview {
  /** The body to send. */
  body: { roles: unknown[] };
  roles: { name: string; rules: number }[];
  /** The realm name inside a config.json, when the roles came from one. */
  fromRealm: string | null;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function realmsOf(config: Obj): Obj[] {
  const out: Obj[] = [];
  const workers = Array.isArray(config.workers) ? config.workers : [];
  for (const w of workers) {
    if (isObj(w) && Array.isArray(w.realms)) out.push(...w.realms.filter(isObj));
  }
  return out;
}

export function previewImport(text: string, realmUri?: string): ImportPreview {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`Not valid JSON: ${(e as Error).message}`);
  }
  let roles: unknown = undefined;
  let fromRealm: string | null = null;
  if (Array.isArray(json)) roles = json;
  else if (isObj(json) && Array.isArray(json.roles)) {
    roles = json.roles;
    if (typeof json.name === 'string') fromRealm = json.name;
  } else if (isObj(json)) {
    const realms = realmsOf(json).filter((r) => Array.isArray(r.roles));
    const chosen = realms.find((r) => r.name === realmUri) ?? realms[0];
    if (chosen) {
      roles = chosen.roles;
      fromRealm = typeof chosen.name === 'string' ? chosen.name : null;
    }
  }
  if (!Array.isArray(roles)) throw new Error('No "roles" array found: paste a Crossbar.io config, a realm, or its roles.');
  if (roles.length === 0) throw new Error('The "roles" array is empty.');
  const summary = roles.map((r, i) => {
    if (!isObj(r) || typeof r.name !== 'string') throw new Error(`roles[${i}] has no "name".`);
    const perms = Array.isArray(r.permissions) ? r.permissions.length : 0;
    return { name: r.name, rules: perms };
  });
  return { body: { roles }, roles: summary, fromRealm };
}
