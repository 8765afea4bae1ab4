import { useEffect, useState } from 'preact/hooks';
import { audit } from '../api/endpoints';
import type { AuditEntry } from '../api/types';
import { ago, dateTime } from '../lib/format';
import { Alert, Badge, Button, Card, Empty, PageHeader, Spinner, Table, errorText } from '../ui';

/** The API lists oldest first; the page shows newest first, so it reads up to this many. */
const MAX_ENTRIES = 2000;
const SHOWN_STEP = 50;

function tone(action: string): 'good' | 'bad' | 'info' | 'neutral' {
  if (/(delete|revoke|remove|kill)/.test(action)) return 'bad';
  if (/(create|signup|import|issue)/.test(action)) return 'good';
  if (/(update|rotate|change)/.test(action)) return 'info';
  return 'neutral';
}

export async function newestFirst(): Promise<{ items: AuditEntry[]; more: boolean }> {
  const out: AuditEntry[] = [];
  let cursor: string | null = null;
  do {
    const page = await audit.page(cursor, 200);
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && out.length < MAX_ENTRIES);
  return { items: out.reverse(), more: cursor !== null };
}

export function AuditPage() {
  const [items, setItems] = useState<AuditEntry[] | null>(null);
  const [truncated, setTruncated] = useState(false);
  const [shown, setShown] = useState(SHOWN_STEP);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState<string | null>(null);
  const load = async () => {
    setBusy(true);
    try {
      const r = await newestFirst();
      setItems(r.items);
      setTruncated(r.more);
      setError(null);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    void load();
  }, []);
  const visible = (items ?? []).slice(0, shown);
  return (
    <>
      <PageHeader
        title="Audit log"
        subtitle="Every change to your tenant: who did it, when, and what changed. Newest first."
        actions={
          <Button size="sm" busy={busy} onClick={load}>
            Refresh
          </Button>
        }
      />
      <Card>
        {error ? <Alert tone="bad">{errorText(error)}</Alert> : null}
        {!items && !error ? <Spinner /> : null}
        {items && items.length === 0 && <Empty title="Nothing recorded yet" />}
        {visible.length > 0 && (
          <Table label="Audit log">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">
                  <span class="sr-only">Details</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {visible.map((e) => (
                <>
                  <tr key={e.id}>
                    <td title={dateTime(e.at)} class="nowrap">
                      {ago(e.at)}
                    </td>
                    <td>
                      {e.actor_label} <span class="muted small">({e.actor_kind === 'api_key' ? 'API key' : e.actor_kind})</span>
                    </td>
                    <td>
                      <Badge tone={tone(e.action)}>{e.action}</Badge>
                    </td>
                    <td>
                      <span class="muted">{e.target_kind}</span> <span class="mono small">{e.target_id}</span>
                    </td>
                    <td class="row-actions">
                      {(e.before != null || e.after != null) && (
                        <Button size="sm" variant="ghost" aria-expanded={open === e.id} onClick={() => setOpen(open === e.id ? null : e.id)}>
                          {open === e.id ? 'Hide' : 'Changes'}
                        </Button>
                      )}
                    </td>
                  </tr>
                  {open === e.id && (
                    <tr class="audit-detail">
                      <td colSpan={5}>
                        <div class="diff">
                          <div>
                            <h4>Before</h4>
                            <pre>{e.before == null ? '—' : JSON.stringify(e.before, null, 2)}</pre>
                          </div>
                          <div>
                            <h4>After</h4>
                            <pre>{e.after == null ? '—' : JSON.stringify(e.after, null, 2)}</pre>
                          </div>
                        </div>
                      </td>
                    </tr>
                  )}
                </>
              ))}
            </tbody>
          </Table>
        )}
        {items && items.length > shown && (
          <div class="center top-gap">
            <Button onClick={() => setShown(shown + SHOWN_STEP)}>Show older entries</Button>
          </div>
        )}
        {truncated && items && items.length <= shown && <p class="muted small top-gap">Only the latest {MAX_ENTRIES} entries are shown.</p>}
      </Card>
    </>
  );
}
