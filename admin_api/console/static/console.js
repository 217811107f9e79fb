// The agency console: Preact + htm (vendored), talking only to /api/v1.
// The shell and the first pages; shared helpers and the session are in lib.js.
import { html, render, useState, useEffect, useRef } from "./vendor/preact-htm.js";
import { API, session, signIn, api, canEdit, when, secs, useRoute, useLoad, Status, onSessionEnd } from "./lib.js";

function SignInForm({ onDone, title }) {
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    try {
      await signIn(form.get("email"), form.get("password"));
      onDone();
    } catch (err) {
      setError(err.message);
    }
  };
  return html`<form class="signin" onSubmit=${submit} aria-labelledby="signin-title">
    <h1 id="signin-title">${title}</h1>
    <label for="email">Email</label>
    <input id="email" name="email" type="email" autocomplete="username" required />
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required />
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <button type="submit">Sign in</button>
  </form>`;
}

function Calls() {
  const [filters, setFilters] = useState({});
  const [pages, setPages] = useState({ items: [], next: null, error: null, loaded: false });
  const load = async (cursor, reset) => {
    const params = new URLSearchParams({ limit: "50" });
    for (const [k, v] of Object.entries(filters)) if (v) params.set(k, v);
    if (cursor) params.set("cursor", cursor);
    try {
      const page = await api(`/calls?${params}`);
      setPages((p) => ({
        items: reset ? page.items : [...p.items, ...page.items],
        next: page.next_cursor,
        error: null,
        loaded: true,
      }));
    } catch (e) {
      setPages((p) => ({ ...p, error: e.message, loaded: true }));
    }
  };
  useEffect(() => void load(null, true), [filters]);
  const apply = (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    setFilters({ since: f.get("since"), until: f.get("until"), caller: f.get("caller"), outcome: f.get("outcome") });
  };
  return html`<section aria-labelledby="calls-title">
    <h1 id="calls-title">Calls</h1>
    <form class="filters" onSubmit=${apply}>
      <label>From <input name="since" type="date" /></label>
      <label>Until <input name="until" type="date" /></label>
      <label>Caller <input name="caller" type="tel" placeholder="+15551234567" /></label>
      <label>Outcome
        <select name="outcome">
          <option value="">any</option>
          ${["caller_hung_up", "agent_hung_up", "transferred", "failed"].map((o) => html`<option value=${o}>${o}</option>`)}
        </select>
      </label>
      <button type="submit">Filter</button>
    </form>
    ${pages.error && html`<p class="error" role="alert">${pages.error}</p>`}
    ${!pages.loaded && html`<p>Loading…</p>`}
    <table class="calls">
      <thead><tr><th scope="col">Started</th><th scope="col">Caller</th><th scope="col">Outcome</th><th scope="col">Length</th></tr></thead>
      <tbody>
        ${pages.items.map(
          (c) => html`<tr>
            <td><a href="#/call/${c.call_sid}">${when(c.started_at)}</a></td>
            <td>${c.from_number}</td><td>${c.outcome || "live"}</td><td>${secs(c.duration_ms)}</td>
          </tr>`,
        )}
      </tbody>
    </table>
    ${pages.loaded && !pages.items.length && html`<p>No calls.</p>`}
    ${pages.next && html`<button onClick=${() => load(pages.next, false)}>More calls</button>`}
  </section>`;
}

// The recording plays from a short-lived playback link, so the browser itself fetches it
// with range requests and seeks without downloading the whole file.
function Recording({ rec }) {
  const [src, setSrc] = useState(null);
  const [error, setError] = useState(null);
  const play = async () => {
    try {
      setSrc((await api(`/recordings/${rec.recording_sid}/link`, { method: "POST" })).url);
    } catch (e) {
      setError(`recording unavailable: ${e.message}`);
    }
  };
  if (!rec.audio_url) return html`<p>Recording ${rec.status}.</p>`;
  return html`<div>
    ${src
      ? html`<audio controls autoplay preload="metadata" src=${src} aria-label="Call recording"></audio>`
      : html`<button onClick=${play}>Load recording (${rec.duration_s || "?"} s)</button>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </div>`;
}

// A live call's turns as server-sent events, read with fetch so the bearer token is sent.
async function follow(sid, onTurn, signal) {
  const r = await fetch(`${API}/calls/${sid}/live`, { headers: { authorization: `Bearer ${session.access}` }, signal });
  if (!r.ok) return;
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = /^event: (\w+)$/m.exec(block);
      const data = /^data: (.*)$/m.exec(block);
      if (event && data) onTurn(event[1], JSON.parse(data[1]));
    }
  }
}

function Call({ sid }) {
  const [state] = useLoad(() => api(`/calls/${sid}`), [sid]);
  const [live, setLive] = useState({ turns: [], ended: false });
  useEffect(() => {
    const c = state.data;
    if (!c || c.ended_at) return;
    const stop = new AbortController();
    follow(sid, (event, data) => setLive((l) => (event === "end" ? { ...l, ended: true } : { ...l, turns: [...l.turns, data] })), stop.signal).catch(() => null);
    return () => stop.abort();
  }, [state.data]);
  const loaded = state.data;
  if (!loaded) return html`<${Status} state=${state} />`;
  const seen = new Set(loaded.transcript.map((t) => t.seq));
  const c = { ...loaded, transcript: [...loaded.transcript, ...live.turns.filter((t) => !seen.has(t.seq))] };
  const s = c.summary;
  return html`<section aria-labelledby="call-title">
    <h1 id="call-title">Call from ${c.from_number}</h1>
    <dl class="facts">
      <dt>Started</dt><dd>${when(c.started_at)}</dd>
      <dt>Outcome</dt><dd>${c.outcome || "live"}</dd>
      <dt>Length</dt><dd>${secs(c.timings.duration_ms)}</dd>
      <dt>Greeting after</dt><dd>${c.timings.greeting_ms == null ? "" : `${c.timings.greeting_ms} ms`}</dd>
      <dt>Sentiment</dt><dd>${c.sentiment || ""}</dd>
    </dl>
    ${s && html`<h2>Summary</h2><p>${s.summary}</p>
      <h2>Key variables</h2>
      <dl class="facts">${Object.entries(s.key_variables).map(([k, v]) => html`<dt>${k}</dt><dd>${JSON.stringify(v)}</dd>`)}</dl>`}
    <h2>Recording</h2>
    ${c.recordings.length ? c.recordings.map((r) => html`<${Recording} rec=${r} />`) : html`<p>No recording.</p>`}
    <h2>Transcript${!c.ended_at && !live.ended ? html` <span class="live">live</span>` : ""}</h2>
    <ol class="transcript" aria-live="polite">
      ${c.transcript.map(
        (t) => html`<li class=${t.role}><time datetime=${t.at}>${new Date(t.at).toLocaleTimeString()}</time>
          <strong>${t.role}</strong> ${t.text}</li>`,
      )}
    </ol>
  </section>`;
}

const GROUPS = [
  ["Core personality", 0, 16],
  ["Advanced", 16, 30],
];

function Agent() {
  const [state, setState] = useLoad(async () => {
    const [agent, presets] = await Promise.all([api("/agent"), api("/agent/presets")]);
    return { agent, presets, sliders: { ...agent.sliders } };
  }, []);
  const [preview, setPreview] = useState(null);
  const [note, setNote] = useState(null);
  const timer = useRef(null);
  const d = state.data;
  const refresh = (sliders) => {
    clearTimeout(timer.current);
    timer.current = setTimeout(async () => {
      try {
        setPreview(await api("/agent/preview", { method: "POST", body: { sliders } }));
      } catch (e) {
        setNote(e.message);
      }
    }, 120);
  };
  useEffect(() => d && refresh(d.sliders), [d && d.agent.version]);
  if (!d) return html`<${Status} state=${state} />`;
  const edit = canEdit();
  const set = (sliders) => {
    setState({ data: { ...d, sliders }, error: null });
    refresh(sliders);
  };
  const save = async () => {
    try {
      const agent = await api("/agent", { method: "PATCH", body: { sliders: d.sliders, version: d.agent.version } });
      setState({ data: { ...d, agent, sliders: { ...agent.sliders } }, error: null });
      setNote(`Saved (version ${agent.version}); the next call uses it.`);
    } catch (e) {
      setNote(e.message);
    }
  };
  const keys = d.presets.slider_keys;
  return html`<section aria-labelledby="agent-title">
    <h1 id="agent-title">Agent: ${d.agent.agent_name}</h1>
    <p>Voice ${d.agent.voice}. Greeting: “${d.agent.greeting_new}”</p>
    ${edit && html`<div class="presets" role="group" aria-label="Presets">
      ${Object.keys(d.presets.slider_presets).map(
        (name) => html`<button type="button" onClick=${() => set({ ...d.presets.slider_presets[name] })}>${name}</button>`,
      )}
    </div>`}
    <div class="agent-grid">
      <div>
        ${GROUPS.map(
          ([title, from, to]) => html`<fieldset><legend>${title}</legend>
            ${keys.slice(from, to).map(
              (k) => html`<div class="slider">
                <label for="s-${k}">${k}</label>
                <input id="s-${k}" type="range" min="0" max="100" step="1" value=${d.sliders[k]}
                  disabled=${!edit} onInput=${(e) => set({ ...d.sliders, [k]: Number(e.target.value) })} />
                <output for="s-${k}">${d.sliders[k]}</output>
              </div>`,
            )}
          </fieldset>`,
        )}
        ${edit && html`<button class="primary" onClick=${save}>Save sliders</button>`}
        ${note && html`<p role="status">${note}</p>`}
      </div>
      <div>
        <h2 id="preview-title">Instructions the next call gets</h2>
        <pre class="preview" aria-labelledby="preview-title" tabindex="0">${preview ? preview.instructions : "…"}</pre>
        ${edit && html`<${TestCall} />`}
      </div>
    </div>
  </section>`;
}

function Callers() {
  const [state] = useLoad(() => api("/callers?limit=100"), []);
  if (!state.data) return html`<${Status} state=${state} />`;
  return html`<section aria-labelledby="callers-title"><h1 id="callers-title">Callers</h1>
    <ul class="plain">${state.data.items.map(
      (c) => html`<li><a href="#/caller/${encodeURIComponent(c.caller_number)}">${c.caller_number}</a> ${c.preferred_name || ""}</li>`,
    )}</ul>
    ${!state.data.items.length && html`<p>No callers.</p>`}
  </section>`;
}

function Caller({ number }) {
  const path = `/callers/${encodeURIComponent(number)}`;
  const [state] = useLoad(async () => ({ caller: await api(path), memories: await api(`${path}/memories`) }), [number]);
  const [confirm, setConfirm] = useState(false);
  const [note, setNote] = useState(null);
  const [gone, setGone] = useState([]);
  if (!state.data) return html`<${Status} state=${state} />`;
  const forget = async () => {
    await api(path, { method: "DELETE" });
    location.hash = "#/callers";
  };
  const drop = async (id) => {
    try {
      await api(`${path}/memories/${id}`, { method: "DELETE" });
      setGone([...gone, id]);
    } catch (e) {
      setNote(e.message);
    }
  };
  return html`<section aria-labelledby="caller-title">
    <h1 id="caller-title">Caller ${number}</h1>
    <h2>Memories</h2>
    <ul class="plain">${state.data.memories.items.filter((m) => !gone.includes(m.memory_id)).map(
      (m) => html`<li>${m.content}
        ${canEdit() && html` <button aria-label="Delete memory: ${m.content}" onClick=${() => drop(m.memory_id)}>Delete</button>`}</li>`,
    )}</ul>
    ${note && html`<p role="status">${note}</p>`}
    ${canEdit() && !confirm && html`<button class="danger" onClick=${() => setConfirm(true)}>Forget this caller</button>`}
    ${confirm && html`<div role="alertdialog" aria-labelledby="forget-q" class="confirm">
      <p id="forget-q">Forget ${number}? Their profile, memories, calls and messages are deleted. This cannot be undone.</p>
      <button class="danger" onClick=${forget}>Yes, forget</button>
      <button onClick=${() => setConfirm(false)}>Cancel</button>
    </div>`}
  </section>`;
}

function Messages() {
  const [state, setState] = useLoad(() => api("/messages?limit=100"), []);
  if (!state.data) return html`<${Status} state=${state} />`;
  const done = async (m) => {
    const updated = await api(`/messages/${m.message_id}`, { method: "PATCH", body: { status: "done" } });
    setState({ data: { ...state.data, items: state.data.items.map((x) => (x.message_id === m.message_id ? updated : x)) }, error: null });
  };
  return html`<section aria-labelledby="messages-title"><h1 id="messages-title">Messages</h1>
    <ul class="plain">${state.data.items.map(
      (m) => html`<li>${when(m.created_at)} — ${m.reason} <em>${m.status}</em>
        ${canEdit() && m.status !== "done" && html` <button onClick=${() => done(m)}>Mark handled</button>`}</li>`,
    )}</ul>
    ${!state.data.items.length && html`<p>No messages.</p>`}
  </section>`;
}

function Invite({ token, onDone }) {
  const [info, setInfo] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    fetch(`${API}/auth/invitation`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token }),
    }).then(async (r) => {
      const body = await r.json().catch(() => ({}));
      r.ok ? setInfo(body) : setError(body.detail || "this invitation link is not valid");
    });
  }, [token]);
  const submit = async (e) => {
    e.preventDefault();
    const password = new FormData(e.target).get("new-password");
    const r = await fetch(`${API}/auth/invitation/accept`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token, password }),
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) return setError(body.detail || `failed (${r.status})`);
    await signIn(info.email, password);
    location.hash = "#/calls";
    onDone();
  };
  return html`<form class="signin" onSubmit=${submit} aria-labelledby="invite-title">
    <h1 id="invite-title">Set up your account</h1>
    ${info && html`<p>You are invited as <strong>${info.role}</strong> with ${info.email}.</p>
      <label for="new-password">Choose a password (12 characters or more)</label>
      <input id="new-password" name="new-password" type="password" autocomplete="new-password" minlength="12" required />
      <button type="submit">Create account</button>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </form>`;
}

function Users() {
  const [state, setState] = useLoad(() => api("/users"), []);
  const [link, setLink] = useState(null);
  const [error, setError] = useState(null);
  if (!state.data) return html`<${Status} state=${state} />`;
  const invite = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      setLink(await api("/users/invitations", { method: "POST", body: { email: f.get("email"), role: f.get("role") } }));
      setError(null);
    } catch (err) {
      setError(err.message);
    }
  };
  return html`<section aria-labelledby="users-title"><h1 id="users-title">Users</h1>
    <table><thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Last sign-in</th></tr></thead>
      <tbody>${state.data.items.map((u) => html`<tr><td>${u.email}</td><td>${u.role}${u.disabled ? " (disabled)" : ""}</td><td>${when(u.last_login_at)}</td></tr>`)}</tbody>
    </table>
    ${canEdit() && html`<form class="filters" onSubmit=${invite} aria-labelledby="invite-h">
      <h2 id="invite-h">Invite someone</h2>
      <label>Email <input name="email" type="email" required /></label>
      <label>Role <select name="role">${["viewer", "admin", "owner"].map((r) => html`<option value=${r}>${r}</option>`)}</select></label>
      <button type="submit">Create invitation link</button>
    </form>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${link && html`<p role="status">Send this link to ${link.email} (works once, until ${when(link.expires_at)}):
      <input class="link" aria-label="Invitation link" readonly value=${link.url} /></p>`}
  </section>`;
}

function Knowledge() {
  const [state, setState] = useLoad(() => api("/knowledge"), []);
  const [error, setError] = useState(null);
  if (!state.data) return html`<${Status} state=${state} />`;
  const add = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      const entry = await api("/knowledge", { method: "POST", body: { kind: f.get("kind"), title: f.get("title"), body: f.get("body") } });
      setState({ data: { ...state.data, items: [...state.data.items, entry] }, error: null });
      e.target.reset();
      setError(null);
    } catch (err) {
      setError(err.message);
    }
  };
  return html`<section aria-labelledby="kb-title"><h1 id="kb-title">Knowledge base</h1>
    <ul class="plain">${state.data.items.map((k) => html`<li><strong>${k.title}</strong> <em>(${k.kind})</em><br />${k.body}</li>`)}</ul>
    ${!state.data.items.length && html`<p>No entries yet.</p>`}
    ${canEdit() && html`<form class="stack" onSubmit=${add} aria-labelledby="kb-add">
      <h2 id="kb-add">Add an entry</h2>
      <label for="kb-kind">Kind</label>
      <select id="kb-kind" name="kind">${["fact", "rule", "procedure", "faq"].map((k) => html`<option value=${k}>${k}</option>`)}</select>
      <label for="kb-t">Title</label><input id="kb-t" name="title" required />
      <label for="kb-b">Text</label><textarea id="kb-b" name="body" rows="4" required></textarea>
      <button type="submit">Add entry</button>
    </form>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </section>`;
}

function Audit() {
  const [state] = useLoad(() => api("/audit?limit=100"), []);
  if (!state.data) return html`<${Status} state=${state} />`;
  return html`<section aria-labelledby="audit-title"><h1 id="audit-title">Audit log</h1>
    <table><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Changes</th></tr></thead>
      <tbody>${state.data.items.map((a) => html`<tr><td>${when(a.at)}</td><td>${a.actor_email || "system"}</td><td>${a.action}</td><td>${Object.keys(a.changes).join(", ")}</td></tr>`)}</tbody>
    </table>
  </section>`;
}

const PAGES = [
  ["overview", "Overview"],
  ["calls", "Calls"],
  ["agent", "Agent"],
  ["settings", "Settings"],
  ["callers", "Callers"],
  ["messages", "Messages"],
  ["knowledge", "Knowledge"],
  ["users", "Users"],
  ["audit", "Audit log"],
];
const PLATFORM_PAGES = [
  ["tenants", "Tenants"],
  ["platform", "Platform settings"],
];
// Pages beyond the first ones load when first visited, so the first load stays small.
const lazy = (load, name) =>
  function Lazy(props) {
    const [Component, setComponent] = useState(null);
    const [error, setError] = useState(null);
    useEffect(() => {
      load().then((m) => setComponent(() => m[name]), (e) => setError(e.message));
    }, []);
    if (error) return html`<p class="error" role="alert">${error}</p>`;
    return Component ? html`<${Component} ...${props} />` : html`<p aria-live="polite">Loading…</p>`;
  };
const TestCall = lazy(() => import("./test_call.js"), "TestCall");
const Overview = lazy(() => import("./overview.js"), "Overview");
const AgentSettings = lazy(() => import("./agent_settings.js"), "AgentSettings");
const Tenants = lazy(() => import("./platform.js"), "Tenants");
const TenantPage = lazy(() => import("./platform.js"), "TenantPage");
const PlatformSettings = lazy(() => import("./platform.js"), "PlatformSettings");
const isPlatformAdmin = () => session.user && session.user.role === "platform_admin";

function PlatformPage({ route }) {
  const [page, arg] = route;
  if (page === "tenant") return html`<${TenantPage} id=${arg} />`;
  if (page === "platform") return html`<${PlatformSettings} />`;
  return html`<${Tenants} />`;
}

function Page({ route }) {
  const [page, arg] = route;
  if (isPlatformAdmin()) return html`<${PlatformPage} route=${route} />`;
  if (["tenants", "tenant", "platform"].includes(page))
    return html`<p class="error" role="alert">This page is for platform administrators.</p>`;
  if (page === "calls") return html`<${Calls} />`;
  if (page === "call") return html`<${Call} sid=${arg} />`;
  if (page === "agent") return html`<${Agent} />`;
  if (page === "settings") return html`<${AgentSettings} />`;
  if (page === "callers") return html`<${Callers} />`;
  if (page === "caller") return html`<${Caller} number=${arg} />`;
  if (page === "messages") return html`<${Messages} />`;
  if (page === "users") return html`<${Users} />`;
  if (page === "knowledge") return html`<${Knowledge} />`;
  if (page === "audit") return html`<${Audit} />`;
  return html`<${Overview} />`;
}

function App() {
  const route = useRoute();
  const [signedIn, setSignedIn] = useState(false);
  const [expired, setExpired] = useState(null);
  useEffect(() => {
    onSessionEnd(() => new Promise((resolve) => setExpired(() => resolve)));
  }, []);
  if (!signedIn && route[0] === "invite")
    return html`<main><${Invite} token=${route[1]} onDone=${() => setSignedIn(true)} /></main>`;
  if (!signedIn) return html`<main><${SignInForm} title="Sign in to NeuroSphere Voice" onDone=${() => setSignedIn(true)} /></main>`;
  const signOut = async () => {
    await api("/auth/logout", { method: "POST" }).catch(() => null);
    Object.assign(session, { access: null, refresh: null, user: null });
    setSignedIn(false);
  };
  return html`<div>
    <header>
      <nav aria-label="Console">
        ${(isPlatformAdmin() ? PLATFORM_PAGES : PAGES).map(([id, label]) => html`<a href="#/${id}" aria-current=${route[0] === id ? "page" : null}>${label}</a>`)}
      </nav>
      <span class="who">${session.user.email} (${session.user.role})</span>
      <button onClick=${signOut}>Sign out</button>
    </header>
    <main><${Page} route=${route} /></main>
    ${expired && html`<div class="overlay" role="dialog" aria-modal="true" aria-labelledby="signin-title">
      <${SignInForm} title="Your session ended: sign in again" onDone=${() => { const r = expired; setExpired(null); r(); }} />
    </div>`}
  </div>`;
}

const root = document.getElementById("app");
root.textContent = "";
render(html`<${App} />`, root);
