// The overview: calls live now, today and this week, and per day the calls, their outcomes,
// the time to answer and the callers' sentiment, as uPlot charts (vendored; it draws on a
// canvas and styles only through the CSSOM, so the CSP needs no inline style). Each chart is an
// image with a text summary, its legend is plain text, and its numbers are in a table below.
import { html, useState, useEffect, useRef } from "./vendor/preact-htm.js";
import { api, secs, useLoad, Status } from "./lib.js";

let uplot = null; // loaded with the page's first chart
async function loadUPlot() {
  if (!uplot) {
    const css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = "/console/static/vendor/uplot.css";
    document.head.append(css);
    uplot = (await import("./vendor/uplot.js")).default;
  }
  return uplot;
}

const COLORS = ["#0b57d0", "#a4161a", "#1e7d32", "#8a4b00", "#6b3fa0", "#4a5560"];
const pct = (x) => (x == null ? "–" : `${Math.round(x * 100)}%`);
const ms = (x) => (x == null ? "–" : `${Math.round(x)} ms`);

// A day ("2026-12-05") as uPlot's x value: seconds at UTC midnight, shown in UTC.
const dayX = (day) => Date.parse(`${day}T00:00:00Z`) / 1000;

function Chart({ title, days, series, unit, bars }) {
  const box = useRef(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let plot = null;
    let gone = false;
    const width = () => Math.max(280, box.current.clientWidth);
    const resize = () => plot && plot.setSize({ width: width(), height: 220 });
    loadUPlot().then((U) => {
      if (gone) return;
      const x = days.map((d) => dayX(d.day));
      plot = new U(
        {
          width: width(),
          height: 220,
          legend: { show: false },
          cursor: { show: false },
          tzDate: (ts) => U.tzDate(new Date(ts * 1000), "Etc/UTC"),
          scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(1, hi * 1.1)] } },
          axes: [{ stroke: "#1b1f24" }, { stroke: "#1b1f24", label: unit, size: 60 }],
          series: [
            {},
            ...series.map(([label], i) => ({
              label,
              stroke: COLORS[i],
              width: 2,
              fill: bars ? COLORS[i] : undefined,
              paths: bars ? U.paths.bars({ size: [0.7, 40] }) : undefined,
              points: { show: !bars },
            })),
          ],
        },
        [x, ...series.map(([, pick]) => days.map(pick))],
        box.current,
      );
    }, (e) => setError(e.message));
    addEventListener("resize", resize);
    return () => {
      gone = true;
      removeEventListener("resize", resize);
      if (plot) plot.destroy();
    };
  }, [days]);
  const id = title.toLowerCase().replace(/\W+/g, "-");
  const totals = series.map(([label, pick]) => `${label} ${days.reduce((n, d) => n + (pick(d) || 0), 0)}`);
  const summary = unit === "calls" ? `${title}, ${days.length} days: ${totals.join(", ")}.` : `${title}, per day over ${days.length} days.`;
  return html`<figure class="chart" aria-labelledby="${id}-cap">
    <figcaption id="${id}-cap"><h2>${title}</h2></figcaption>
    <ul class="legend">${series.map(([label], i) => html`<li><span class="swatch sw-${i}" aria-hidden="true"></span>${label}</li>`)}</ul>
    <div class="plot" ref=${box} role="img" aria-label=${summary}></div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <details><summary>${title} as a table</summary>
      <table><thead><tr><th scope="col">Day</th>${series.map(([label]) => html`<th scope="col">${label}</th>`)}</tr></thead>
        <tbody>${days.map((d) => html`<tr><th scope="row">${d.day}</th>${series.map(([, pick]) => html`<td>${pick(d) == null ? "–" : Math.round(pick(d))}</td>`)}</tr>`)}</tbody>
      </table>
    </details>
  </figure>`;
}

export function Overview() {
  const [days, setDays] = useState(14);
  const [state] = useLoad(() => api(`/overview?days=${days}`), [days]);
  const o = state.data;
  return html`<section aria-labelledby="overview-title">
    <h1 id="overview-title">Overview</h1>
    <div class="filters"><label>Period
      <select value=${days} onChange=${(e) => setDays(Number(e.target.value))}>
        ${[7, 14, 30, 90].map((n) => html`<option value=${n}>last ${n} days</option>`)}
      </select></label></div>
    ${!o ? html`<${Status} state=${state} />` : html`
      <dl class="tiles">
        <div><dt>Live now</dt><dd class="live-count">${o.live}</dd></div>
        <div><dt>Today</dt><dd>${o.today}</dd></div>
        <div><dt>This week</dt><dd>${o.this_week}</dd></div>
        <div><dt>Average length</dt><dd>${o.window.avg_duration_ms == null ? "–" : secs(o.window.avg_duration_ms)}</dd></div>
        <div><dt>Transfer rate</dt><dd>${pct(o.transfer_rate)}</dd></div>
        <div><dt>Time to answer</dt><dd>${ms(o.window.avg_answer_ms)}</dd></div>
      </dl>
      <p class="hint">Days in ${o.time_zone}. ${o.window.calls} calls in the period, ${o.window.answered} answered.</p>
      <div class="charts">
        <${Chart} title="Calls per day" unit="calls" bars days=${o.days} series=${[["Calls", (d) => d.calls]]} />
        <${Chart} title="Outcomes" unit="calls" days=${o.days} series=${[
          ["Transferred", (d) => d.transferred],
          ["Message taken", (d) => d.message_taken],
          ["Caller hung up", (d) => d.caller_hung_up],
          ["Agent ended", (d) => d.agent_ended],
          ["Failed or lost", (d) => d.other],
        ]} />
        <${Chart} title="Time to answer" unit="ms" days=${o.days} series=${[
          ["Average", (d) => d.avg_answer_ms],
          ["90th percentile", (d) => d.p90_answer_ms],
        ]} />
        <${Chart} title="Caller sentiment" unit="calls" days=${o.days} series=${[
          ["Positive", (d) => d.positive],
          ["Negative", (d) => d.negative],
          ["Neutral", (d) => d.neutral],
          ["Mixed", (d) => d.mixed],
        ]} />
        <${Chart} title="Average call length" unit="s" days=${o.days} series=${[
          ["Seconds", (d) => (d.avg_duration_ms == null ? null : d.avg_duration_ms / 1000)],
        ]} />
      </div>`}
  </section>`;
}
