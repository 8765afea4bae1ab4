// Live sessions of a realm, with kill, and the realm's figures as live charts.
//
// Source: the admin API (`GET /v1/realms/{id}/sessions`, `DELETE .../sessions/{sid}`,
// `GET /v1/realms/{id}/stats`, whose message counters become a rate here). Where the server
// cannot answer those (503 `unavailable`: no session directory; 404 on older servers), the WAMP
// meta API (`wamp.session.list/get/kill`) through an open console session on this realm.

import { useEffect, useRef, useState } from 'preact/hooks';
import { isUnavailable } from '../api/client';
import { live } from '../api/endpoints';
import type { LiveSession, Realm } from '../api/types';
import { ago } from '../lib/format';
import { useInterval } from '../lib/hooks';
import { useStore } from '../lib/store';
import { navigate } from '../lib/router';
import * as wamp from '../state/console';
import { Alert, Badge, Button, Card, ConfirmDialog, Empty, Spinner, Table, errorText, toast } from '../ui';
import { LineChart, type Point } from '../ui/chart';

const POLL_MS = 2000;
const KEEP_MS = 5 * 60_000;

type Source = 'admin' | 'meta' | 'none';

async function metaSessions(label: string): Promise<LiveSession[]> {
  const r = await wamp.call(label, 'wamp.session.list', {}, true);
  const ids = (Array.isArray(r.argsList?.[0]) ? r.argsList[0] : (r.argsList ?? [])) as number[];
  const out: LiveSession[] = [];
  for (const id of ids.slice(0, 200)) {
    try {
      const g = await wamp.call(label, 'wamp.session.get', { argsList: [id] }, true);
      const d = (g.argsList?.[0] ?? g.argsDict ?? {}) as Record<string, unknown>;
      const s = (k: string) => (typeof d[k] === 'string' ? (d[k] as string) : '');
      out.push({
        session_id: id,
        authid: s('authid'),
        authrole: s('authrole'),
        authmethod: s('authmethod'),
        pod: typeof d.pod === 'string' ? d.pod : null,
        joined_at: typeof d.joined_at === 'string' ? d.joined_at : null,
      });
    } catch {
      /* left meanwhile */
    }
  }
  return out;
}

export function SessionsPage(props: { realm: Realm }) {
  const realm = props.realm;
  const consoleState = useStore(wamp.consoleStore);
  const metaVia = consoleState.sessions.find((s) => s.realmId === realm.id && s.state === 'open')?.label ?? null;
  const [source, setSource] = useState<Source>('admin');
  const [sessions, setSessions] = useState<LiveSession[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [kill, setKill] = useState<LiveSession | null>(null);
  const [sessionPoints, setSessionPoints] = useState<Point[]>([]);
  const [ratePoints, setRatePoints] = useState<Point[]>([]);
  const [statsMissing, setStatsMissing] = useState(false);
  const [now, setNow] = useState(Date.now());
  const busy = useRef(false);
  const lastCount = useRef<{ t: number; total: number } | null>(null);

  const poll = async () => {
    if (busy.current) return;
    busy.current = true;
    const t = Date.now();
    try {
      let list: LiveSession[] | null = null;
      let src: Source = source;
      if (src === 'admin') {
        try {
          list = (await live.sessions(realm.id)).items;
        } catch (e) {
          if (!isUnavailable(e)) throw e;
          src = 'meta';
        }
      }
      if (src === 'meta' || src === 'none') {
        if (metaVia) {
          list = await metaSessions(metaVia);
          src = 'meta';
        } else src = 'none';
      }
      setSource(src);
      setSessions(list);
      setError(null);
      if (!statsMissing) {
        try {
          const st = await live.stats(realm.id);
          setSessionPoints((p) => [...p.filter((x) => t - x.t < KEEP_MS), { t, v: st.sessions }]);
          const total = st.messages_in + st.messages_out;
          const prev = lastCount.current;
          lastCount.current = { t, total };
          if (prev && t > prev.t) {
            const rate = Math.max(0, (total - prev.total) / ((t - prev.t) / 1000));
            setRatePoints((p) => [...p.filter((x) => t - x.t < KEEP_MS), { t, v: rate }]);
          }
        } catch (e) {
          if (isUnavailable(e)) setStatsMissing(true);
          else throw e;
        }
      }
      if ((statsMissing || src !== 'admin') && list) {
        setSessionPoints((p) => (p.length && p[p.length - 1]!.t === t ? p : [...p.filter((x) => t - x.t < KEEP_MS), { t, v: list!.length }]));
      }
    } catch (e) {
      setError(e);
    } finally {
      busy.current = false;
      setNow(Date.now());
    }
  };

  useEffect(() => {
    void poll();
  }, [realm.id, metaVia]);
  useInterval(() => void poll(), POLL_MS);

  const doKill = async (s: LiveSession) => {
    if (source === 'admin' && (await live.kill(realm.id, s.session_id))?.state === 'closing') {
      // Its router pod has not closed it yet: it stays listed until it has.
      toast(`Session ${s.session_id} is closing: its router has not confirmed yet`);
      setTimeout(() => void poll(), 300);
      return;
    }
    if (source !== 'admin' && metaVia) await wamp.call(metaVia, 'wamp.session.kill', { argsList: [s.session_id], argsDict: { reason: 'wamp.close.killed', message: 'killed from the dashboard' } }, true);
    toast(`Session ${s.session_id} killed`);
    setSessions((list) => (list ?? []).filter((x) => x.session_id !== s.session_id));
    setTimeout(() => void poll(), 300);
  };

  const own = new Map(consoleState.sessions.filter((s) => s.sessionId).map((s) => [s.sessionId!, s.label]));

  return (
    <>
      <div class="grid-2">
        <LineChart title="Sessions" unit="joined" points={sessionPoints} now={now} windowMs={60_000} />
        <LineChart title="Messages" unit="msg/s" points={ratePoints} now={now} tone="b" windowMs={60_000} />
      </div>
      {statsMissing && (
        <p class="muted small">
          Message rates need <code>GET /v1/realms/{'{id}'}/stats</code>, which this server cannot answer (no session
          directory); the sessions chart counts the list below.
        </p>
      )}
      <Card
        title="Live sessions"
        actions={
          <>
            {source === 'meta' && <Badge tone="info" title={`WAMP meta API through console session ${metaVia}`}>via meta API</Badge>}
            <Button size="sm" onClick={() => void poll()}>
              Refresh
            </Button>
          </>
        }
      >
        {error ? <Alert tone="bad" title="Could not list sessions">{errorText(error)}</Alert> : null}
        {source === 'none' ? (
          <Alert tone="info" title="Listing sessions needs the admin API's session endpoints, or a console session">
            This server cannot answer <code>GET /v1/realms/{'{id}'}/sessions</code> (no session directory). Join this realm in the{' '}
            <a href={`/realms/${realm.id}/console`} onClick={(e) => { e.preventDefault(); navigate(`/realms/${realm.id}/console`); }}>console</a>{' '}
            with a role allowed to call <code>wamp.session.*</code>, and this page lists and kills sessions through the WAMP meta API.
          </Alert>
        ) : sessions === null && !error ? (
          <Spinner />
        ) : sessions && sessions.length === 0 ? (
          <Empty title="No session is joined to this realm right now" />
        ) : sessions ? (
          <Table label="Live sessions">
            <thead>
              <tr>
                <th scope="col">Session</th>
                <th scope="col">authid</th>
                <th scope="col">Role</th>
                <th scope="col">Method</th>
                <th scope="col">Pod</th>
                <th scope="col">Connected</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {sessions.map((s) => (
                <tr key={s.session_id} data-session={s.session_id}>
                  <td class="mono">
                    {s.session_id} {own.has(s.session_id) && <Badge tone="info">console {own.get(s.session_id)}</Badge>}
                  </td>
                  <td class="mono strong">{s.authid || '—'}</td>
                  <td class="mono">{s.authrole || '—'}</td>
                  <td>{s.authmethod || '—'}</td>
                  <td class="mono">{s.pod ?? '—'}</td>
                  <td title={s.joined_at ?? ''}>{s.joined_at ? ago(s.joined_at, now) : '—'}</td>
                  <td class="row-actions">
                    <Button size="sm" variant="danger" onClick={() => setKill(s)} aria-label={`Kill session ${s.session_id}`}>
                      Kill
                    </Button>
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        ) : null}
      </Card>
      {kill && (
        <ConfirmDialog title={`Kill session ${kill.session_id}?`} confirmLabel="Kill session" onClose={() => setKill(null)} onConfirm={() => doKill(kill)}>
          <p>
            The router closes the session of <strong class="mono">{kill.authid || 'this client'}</strong> with{' '}
            <code>wamp.close.killed</code>. A client that reconnects on its own will join again unless its credential is revoked.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}
