// A live line chart in plain SVG: a rolling window of points, an area under the line, the
// latest value in the corner, and a text summary for screen readers.

import { compact } from '../lib/format';

export interface Point {
  t: number;
  v: number;
}

export function chartPath(points: Point[], w: number, h: number, windowMs: number, now: number, max: number): { line: string; area: string } {
  if (points.length === 0) return { line: '', area: '' };
  const x = (t: number) => Math.max(0, Math.min(w, w - ((now - t) / windowMs) * w));
  const y = (v: number) => h - (max > 0 ? (v / max) * (h - 4) : 0) - 2;
  const coords = points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
  const line = 'M' + coords.join(' L');
  const first = x(points[0]!.t).toFixed(1);
  const last = x(points[points.length - 1]!.t).toFixed(1);
  return { line, area: `${line} L${last},${h} L${first},${h} Z` };
}

/** A round upper bound for the y axis. */
export function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

export function LineChart(props: { title: string; unit: string; points: Point[]; windowMs?: number; now?: number; tone?: 'a' | 'b' }) {
  const w = 600;
  const h = 140;
  const windowMs = props.windowMs ?? 120_000;
  const now = props.now ?? Date.now();
  const visible = props.points.filter((p) => now - p.t <= windowMs);
  const latest = visible[visible.length - 1]?.v;
  const max = niceMax(Math.max(0, ...visible.map((p) => p.v)));
  const { line, area } = chartPath(visible, w, h, windowMs, now, max);
  const summary =
    latest === undefined
      ? `${props.title}: no data yet`
      : `${props.title}: now ${compact(latest)} ${props.unit}, peak ${compact(Math.max(...visible.map((p) => p.v)))} over the last ${Math.round(windowMs / 60000)} minutes`;
  return (
    <figure class={`chart chart-${props.tone ?? 'a'}`}>
      <figcaption class="chart-head">
        <span class="chart-title">{props.title}</span>
        <span class="chart-value" data-testid={`chart-${props.title}`}>
          {latest === undefined ? '—' : compact(latest)}
          <small> {props.unit}</small>
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="none" role="img" aria-label={summary} class="chart-svg">
        {[0.25, 0.5, 0.75].map((f) => (
          <line x1="0" x2={w} y1={h * f} y2={h * f} class="chart-grid" />
        ))}
        {area && <path d={area} class="chart-area" />}
        {line && <path d={line} class="chart-line" vector-effect="non-scaling-stroke" />}
      </svg>
      <div class="chart-axis" aria-hidden="true">
        <span>−{Math.round(windowMs / 1000)} s</span>
        <span>max {compact(max)}</span>
        <span>now</span>
      </div>
    </figure>
  );
}
