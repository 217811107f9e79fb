// Platform administrators' pages: tenants (list, create, change numbers and limits, suspend
// and reactivate, AI-disclosure rule, invite an owner) and the platform's settings. Shown only
// to platform admins; the API refuses everyone else anyway.
import { html, useState } from "./vendor/preact-htm.js";
import { api, when, useLoad, Status } from "./lib.js";
import { errorPaths } from "./agent_settings.js";

const numbers = (text) => text.split(/[\s,]+/).filter(Boolean);

function FieldError({ errors, name }) {
  return errors[name] ? html`<p class="error field-error" id="err-${name}">${errors[name]}</p>` : null;
}

const invalid = (errors, name) => (errors[name] ? { "aria-invalid": "true", "aria-describedby": `err-${name}` } : {});

// Name, numbers, time zone and call limit: the form both creating and changing a tenant use.
function TenantFields({ tenant, errors }) {
  return html`
    <label for="t-name">Name</label>
    <input id="t-name" name="name" defaultValue=${tenant.name || ""} required ...${invalid(errors, "name")} />
    <${FieldError} errors=${errors} name="name" />
    <label for="t-numbers">Phone numbers (one per line, +15551234567)</label>
    <textarea id="t-numbers" name="phone_numbers" rows="2" defaultValue=${(tenant.phone_numbers || []).join("\n")}
      ...${invalid(errors, "phone_numbers")}></textarea>
    <${FieldError} errors=${errors} name="phone_numbers" />
    <label for="t-zone">Time zone</label>
    <input id="t-zone" name="time_zone" defaultValue=${tenant.time_zone || "America/New_York"} ...${invalid(errors, "time_zone")} />
    <${FieldError} errors=${errors} name="time_zone" />
    <label for="t-max">Concurrent calls</label>
    <input id="t-max" name="max_concurrent_calls" type="number" min="1" max="10000" defaultValue=${tenant.max_concurrent_calls || 10}
      ...${invalid(errors, "max_concurrent_calls")} />
    <${FieldError} errors=${errors} name="max_concurrent_calls" />`;
}

function tenantBody(form) {
  const f = new FormData(form);
  return {
    name: f.get("name"),
    phone_numbers: numbers(f.get("phone_numbers")),
    time_zone: f.get("time_zone"),
    max_concurrent_calls: Number(f.get("max_concurrent_calls")),
  };
}

// Validation messages by top-level field; `phone_numbers.1` is shown at phone_numbers.
function fieldErrors(err) {
  const found = {};
  for (const [path, msg] of Object.entries(err.body ? errorPaths(err.body) : {})) {
    const [field, index] = path.split(".");
    found[field] = index === undefined ? msg : `number ${Number(index) + 1}: ${msg}`;
  }
  return found;
}

export function Tenants() {
  const [status, setStatus] = useState("");
  const [pages, setPages] = useLoad(() => api(`/tenants?limit=50${status ? `&status=${status}` : ""}`), [status]);
  const [errors, setErrors] = useState({});
  const [note, setNote] = useState(null);
  const more = async () => {
    const next = await api(`/tenants?limit=50&cursor=${encodeURIComponent(pages.data.next_cursor)}${status ? `&status=${status}` : ""}`);
    setPages({ data: { items: [...pages.data.items, ...next.items], next_cursor: next.next_cursor }, error: null });
  };
  const create = async (e) => {
    e.preventDefault();
    try {
      const t = await api("/tenants", { method: "POST", body: tenantBody(e.target) });
      location.hash = `#/tenant/${t.tenant_id}`;
    } catch (err) {
      const found = fieldErrors(err);
      setErrors(found);
      setNote(Object.keys(found).length ? "Not created: see the marked fields." : err.message);
    }
  };
  return html`<section aria-labelledby="tenants-title"><h1 id="tenants-title">Tenants</h1>
    <div class="filters"><label>Status
      <select value=${status} onChange=${(e) => setStatus(e.target.value)}>
        <option value="">any</option><option value="active">active</option><option value="suspended">suspended</option>
      </select></label></div>
    ${pages.data
      ? html`<table class="tenants"><thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Numbers</th><th scope="col">Time zone</th></tr></thead>
        <tbody>${pages.data.items.map((t) => html`<tr><td><a href="#/tenant/${t.tenant_id}">${t.name}</a></td><td>${t.status}</td>
          <td>${t.phone_numbers.join(", ")}</td><td>${t.time_zone}</td></tr>`)}</tbody></table>
        ${!pages.data.items.length && html`<p>No tenants.</p>`}
        ${pages.data.next_cursor && html`<button onClick=${more}>More tenants</button>`}`
      : html`<${Status} state=${pages} />`}
    <form class="stack" onSubmit=${create} novalidate aria-labelledby="new-tenant">
      <h2 id="new-tenant">Create a tenant</h2>
      <${TenantFields} tenant=${{}} errors=${errors} />
      <button class="primary" type="submit">Create tenant</button>
      ${note && html`<p role="status">${note}</p>`}
    </form>
  </section>`;
}

export function TenantPage({ id }) {
  const [state, setState] = useLoad(async () => {
    const [tenant, compliance, people] = await Promise.all([
      api(`/tenants/${id}`),
      api(`/tenants/${id}/compliance`),
      api(`/tenants/${id}/users`),
    ]);
    return { tenant, compliance, people };
  }, [id]);
  const [errors, setErrors] = useState({});
  const [note, setNote] = useState(null);
  const [confirm, setConfirm] = useState(false);
  const [link, setLink] = useState(null);
  const d = state.data;
  if (!d) return html`<${Status} state=${state} />`;
  const put = (patch) => setState({ data: { ...d, ...patch }, error: null });
  const attempt = async (work, done) => {
    try {
      await work();
      setErrors({});
      setNote(done);
    } catch (err) {
      const found = fieldErrors(err);
      setErrors(found);
      setNote(Object.keys(found).length ? "Not saved: see the marked fields." : err.message);
    }
  };
  const save = (e) => {
    e.preventDefault();
    const body = tenantBody(e.target);
    attempt(async () => put({ tenant: await api(`/tenants/${id}`, { method: "PATCH", body }) }), "Saved; the next call uses it.");
  };
  const setStatus = (action) =>
    attempt(async () => {
      put({ tenant: await api(`/tenants/${id}/${action}`, { method: "POST" }) });
      setConfirm(false);
    }, action === "suspend" ? "Suspended: its numbers are out of service and its users cannot sign in." : "Active again.");
  const saveCompliance = (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const body = { jurisdiction: f.get("jurisdiction") || null, ai_disclosure: f.get("ai_disclosure") };
    attempt(async () => put({ compliance: await api(`/tenants/${id}/compliance`, { method: "PUT", body }) }), "Disclosure rule saved.");
  };
  const invite = (e) => {
    e.preventDefault();
    const email = new FormData(e.target).get("email");
    attempt(async () => setLink(await api(`/tenants/${id}/invitations`, { method: "POST", body: { email, role: "owner" } })), null);
  };
  const t = d.tenant;
  return html`<section aria-labelledby="tenant-title">
    <h1 id="tenant-title">${t.name} <span class="badge">${t.status}</span></h1>
    <p><a href="#/tenants">All tenants</a> · created ${when(t.created_at)}</p>
    ${note && html`<p role="status">${note}</p>`}
    <form class="stack" onSubmit=${save} novalidate aria-labelledby="edit-tenant">
      <h2 id="edit-tenant">Numbers and limits</h2>
      <${TenantFields} tenant=${t} errors=${errors} />
      <button class="primary" type="submit">Save tenant</button>
    </form>
    <h2>Status</h2>
    ${t.status === "active" && !confirm && html`<button class="danger" onClick=${() => setConfirm(true)}>Suspend tenant</button>`}
    ${confirm && html`<div role="alertdialog" aria-labelledby="suspend-q" class="confirm">
      <p id="suspend-q">Suspend ${t.name}? Its numbers stop answering and its users are signed out. Nothing is deleted; you can reactivate it.</p>
      <button class="danger" onClick=${() => setStatus("suspend")}>Yes, suspend</button>
      <button onClick=${() => setConfirm(false)}>Cancel</button>
    </div>`}
    ${t.status === "suspended" && html`<button onClick=${() => setStatus("activate")}>Reactivate tenant</button>`}
    <form class="stack" onSubmit=${saveCompliance} aria-labelledby="disclosure-h">
      <h2 id="disclosure-h">AI disclosure</h2>
      <label for="c-j">Jurisdiction (US state, e.g. CA)</label>
      <input id="c-j" name="jurisdiction" defaultValue=${d.compliance.jurisdiction || ""} maxlength="2" ...${invalid(errors, "jurisdiction")} />
      <${FieldError} errors=${errors} name="jurisdiction" />
      <label for="c-p">Disclose</label>
      <select id="c-p" name="ai_disclosure" value=${d.compliance.ai_disclosure}>
        <option value="jurisdiction">where the law requires it</option><option value="always">always</option>
      </select>
      <p>${d.compliance.disclosure_required ? "The next call's greeting discloses the AI." : "The next call's greeting does not need to disclose the AI."}</p>
      <button type="submit">Save disclosure rule</button>
    </form>
    <h2>Users</h2>
    <ul class="plain">${d.people.items.map((u) => html`<li>${u.email} (${u.role})${u.disabled ? " disabled" : ""}</li>`)}</ul>
    ${!d.people.items.length && html`<p>No users yet.</p>`}
    <form class="filters" onSubmit=${invite} aria-labelledby="owner-h">
      <h3 id="owner-h">Invite an owner</h3>
      <label>Owner's email <input name="email" type="email" required /></label>
      <button type="submit">Create owner invitation</button>
    </form>
    ${link && html`<p>Send this link to ${link.email} (works once, until ${when(link.expires_at)}):
      <input class="link" aria-label="Owner invitation link" readonly value=${link.url} /></p>`}
  </section>`;
}

// The platform's settings: each field GET /platform/settings answers, as it answers it.
export function PlatformSettings() {
  const [state, setState] = useLoad(() => api("/platform/settings"), []);
  const [note, setNote] = useState(null);
  if (!state.data) return html`<${Status} state=${state} />`;
  const save = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const body = {};
    for (const [k, v] of Object.entries(state.data))
      body[k] = typeof v === "boolean" ? f.get(k) === "on" : typeof v === "number" ? Number(f.get(k)) : f.get(k);
    try {
      setState({ data: await api("/platform/settings", { method: "PUT", body }), error: null });
      setNote("Saved; every tenant's next call uses it within 30 seconds.");
    } catch (err) {
      setNote(err.message);
    }
  };
  const labels = { ai_disclosure_mandatory: "Every tenant's greeting discloses the AI, whatever its own rule" };
  return html`<section aria-labelledby="platform-title"><h1 id="platform-title">Platform settings</h1>
    <form class="stack" onSubmit=${save}>
      ${Object.entries(state.data).map(([k, v]) =>
        typeof v === "boolean"
          ? html`<label class="check"><input type="checkbox" name=${k} checked=${v} /> ${labels[k] || k.replace(/_/g, " ")}</label>`
          : html`<label for="p-${k}">${labels[k] || k.replace(/_/g, " ")}</label><input id="p-${k}" name=${k} value=${v} />`,
      )}
      <button class="primary" type="submit">Save platform settings</button>
      ${note && html`<p role="status">${note}</p>`}
    </form>
  </section>`;
}
