// The agent's settings other than the sliders, as a form built from the JSON Schema of
// PATCH /agent (GET /agent/presets `update_schema`): every setting the API accepts appears with
// its bounds and description, including ones added later. The API validates; its messages are
// shown next to the field they are about.
import { html, useState } from "./vendor/preact-htm.js";
import { api, canEdit, session, useLoad, Status } from "./lib.js";

const SKIP = new Set(["sliders", "version", "updated_at"]); // sliders: the Agent page
const WORDS = { ms: "(ms)", s: "(s)", dtmf: "Keypad", vad: "Turn-taking", pii: "PII" };
const label = (name) => {
  const words = String(name).split("_").map((w) => WORDS[w] || w);
  const text = words.join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
};
const idOf = (path) => `f-${path.join("-")}`;
const key = (path) => path.join(".");

// The schema of a value, with $ref followed and `anyOf [X, null]` read as X.
function resolve(schema, defs) {
  let s = schema || {};
  if (s.anyOf) s = s.anyOf.find((x) => x.type !== "null") || {};
  if (s.$ref) s = defs[s.$ref.split("/").pop()] || {};
  return { ...s, description: schema.description || s.description };
}

function setIn(value, path, next) {
  if (!path.length) return next;
  const [head, ...rest] = path;
  const copy = Array.isArray(value) ? [...value] : { ...(value || {}) };
  copy[head] = setIn(copy[head], rest, next);
  return copy;
}

function dropKey(obj, k) {
  const copy = { ...obj };
  delete copy[k];
  return copy;
}

// The field an API error is about: `loc` of a validation error, or the "name[...]:" a rule
// message starts with (admin_api.agent_rules).
export function errorPaths(body) {
  const found = {};
  for (const e of body.errors || []) found[e.loc.filter((p) => p !== "body").join(".")] = e.msg;
  if (!body.errors && body.detail) {
    const m = /^(\w+)(?:\[['"]?([^'"\]]+)['"]?\])?: (.*)$/.exec(body.detail);
    if (m) found[m[2] ? `${m[1]}.${m[2]}` : m[1]] = m[3];
  }
  return found;
}

function Problem({ path, errors }) {
  const msg = errors[key(path)];
  return msg ? html`<p class="error field-error" id="${idOf(path)}-err">${msg}</p>` : null;
}

function Hint({ path, schema }) {
  return schema.description ? html`<p class="hint" id="${idOf(path)}-hint">${schema.description}</p>` : null;
}

function Field({ ctx, path, schema, name }) {
  const s = resolve(schema, ctx.defs);
  const value = path.reduce((v, p) => (v == null ? v : v[p]), ctx.draft);
  const set = (v) => ctx.set(path, v);
  const id = idOf(path);
  const err = ctx.errors[key(path)];
  const described = [s.description && `${id}-hint`, err && `${id}-err`].filter(Boolean).join(" ") || null;
  const common = { id, disabled: !ctx.edit, "aria-describedby": described, "aria-invalid": err ? "true" : null };
  const title = label(name);

  if (s.type === "object" && s.properties) {
    return html`<fieldset><legend>${title}</legend><${Hint} path=${path} schema=${s} /><${Problem} path=${path} errors=${ctx.errors} />
      ${Object.entries(s.properties).map(([k, sub]) => html`<${Field} ctx=${ctx} path=${[...path, k]} schema=${sub} name=${k} />`)}
    </fieldset>`;
  }
  if (s.type === "array" && s.items && resolve(s.items, ctx.defs).enum) {
    const options = resolve(s.items, ctx.defs).enum;
    const chosen = value || [];
    return html`<fieldset><legend>${title}</legend><${Problem} path=${path} errors=${ctx.errors} />
      ${options.map((o) => html`<label class="check"><input type="checkbox" disabled=${!ctx.edit} checked=${chosen.includes(o)}
        onChange=${(e) => set(e.target.checked ? [...chosen, o] : chosen.filter((x) => x !== o))} /> ${o}</label>`)}
    </fieldset>`;
  }
  if (s.type === "array") {
    const item = resolve(s.items, ctx.defs);
    const rows = value || [];
    return html`<fieldset><legend>${title}</legend><${Hint} path=${path} schema=${s} /><${Problem} path=${path} errors=${ctx.errors} />
      ${rows.map((_, i) => html`<div class="row-group" role="group" aria-label="${title} ${i + 1}">
        ${Object.entries(item.properties || {}).map(([k, sub]) => html`<${Field} ctx=${ctx} path=${[...path, i, k]} schema=${sub} name=${k} />`)}
        ${ctx.edit && html`<button type="button" onClick=${() => set(rows.filter((__, j) => j !== i))}>Remove ${title.toLowerCase()} ${i + 1}</button>`}
      </div>`)}
      ${ctx.edit && html`<button type="button" onClick=${() => set([...rows, {}])}>Add to ${title.toLowerCase()}</button>`}
    </fieldset>`;
  }
  const valueSchema = s.additionalProperties || Object.values(s.patternProperties || {})[0];
  if (s.type === "object" && valueSchema) {
    const item = resolve(valueSchema, ctx.defs);
    const entries = Object.entries(value || {});
    if (name === "blocks") return html`<${Blocks} ctx=${ctx} path=${path} names=${s.propertyNames.enum} value=${value || {}} />`;
    const addKey = (e) => {
      e.preventDefault();
      const k = e.target.form.elements[`${id}-new`].value;
      if (k) set({ ...(value || {}), [k]: {} });
    };
    return html`<fieldset><legend>${title}</legend><${Hint} path=${path} schema=${s} /><${Problem} path=${path} errors=${ctx.errors} />
      ${entries.map(([k]) => html`<div class="row-group" role="group" aria-label="${title} ${k}">
        <p><strong>${k}</strong></p><${Problem} path=${[...path, k]} errors=${ctx.errors} />
        ${Object.entries(item.properties || {}).map(([p, sub]) => html`<${Field} ctx=${ctx} path=${[...path, k, p]} schema=${sub} name=${p} />`)}
        ${ctx.edit && html`<button type="button" onClick=${() => set(dropKey(value, k))}>Remove ${title.toLowerCase()} ${k}</button>`}
      </div>`)}
      ${ctx.edit && html`<div class="inline-add"><label for="${id}-new">New ${title.toLowerCase()} key</label>
        <input id="${id}-new" name="${id}-new" size="4" /><button type="button" onClick=${addKey}>Add</button></div>`}
    </fieldset>`;
  }
  let input;
  if (s.enum) {
    input = html`<select ...${common} value=${value ?? ""} onChange=${(e) => set(e.target.value)}>
      ${s.enum.map((o) => html`<option value=${o}>${o}</option>`)}</select>`;
  } else if (s.type === "boolean") {
    return html`<div class="field"><label class="check"><input type="checkbox" ...${common} checked=${!!value}
      onChange=${(e) => set(e.target.checked)} /> ${title}</label><${Hint} path=${path} schema=${s} /><${Problem} path=${path} errors=${ctx.errors} /></div>`;
  } else if (s.type === "integer" || s.type === "number") {
    input = html`<input type="number" ...${common} min=${s.minimum} max=${s.maximum} step=${s.type === "integer" ? 1 : "any"}
      value=${value ?? ""} onInput=${(e) => set(e.target.value === "" ? null : Number(e.target.value))} />`;
  } else if ((s.maxLength || 0) > 200) {
    input = html`<textarea ...${common} rows="3" value=${value ?? ""} onInput=${(e) => set(e.target.value)}></textarea>`;
  } else {
    const clearable = path.length === 1 && ctx.clearable.includes(name);
    input = html`<input ...${common} value=${value ?? ""} placeholder=${(s.examples || [])[0] || null}
      onInput=${(e) => set(clearable && e.target.value === "" ? null : e.target.value)} />`;
  }
  return html`<div class="field"><label for=${id}>${title}</label>${input}<${Hint} path=${path} schema=${s} /><${Problem} path=${path} errors=${ctx.errors} /></div>`;
}

// Prompt blocks: each a preset by name, or custom text ("custom:<text>").
function Blocks({ ctx, path, names, value }) {
  return html`<fieldset><legend>Prompt blocks</legend><${Problem} path=${path} errors=${ctx.errors} />
    ${names.map((b) => {
      const current = value[b] || "";
      const custom = current.startsWith("custom:");
      const presets = Object.keys(ctx.presets.block_presets[b] || {});
      const id = idOf([...path, b]);
      return html`<div class="field"><label for=${id}>${label(b)}</label>
        <select id=${id} disabled=${!ctx.edit} value=${custom ? "custom" : current}
          onChange=${(e) => ctx.set([...path, b], e.target.value === "custom" ? "custom:" : e.target.value)}>
          ${!current && html`<option value="">default</option>`}
          ${presets.map((p) => html`<option value=${p}>${p}</option>`)}<option value="custom">custom text</option>
        </select>
        ${custom && html`<label for="${id}-text">${label(b)} text</label><textarea id="${id}-text" rows="3" disabled=${!ctx.edit}
          value=${current.slice(7)} onInput=${(e) => ctx.set([...path, b], `custom:${e.target.value}`)}></textarea>`}
        <${Problem} path=${[...path, b]} errors=${ctx.errors} /></div>`;
    })}
  </fieldset>`;
}

// What the tenant's users read but platform admins set: numbers, hours, zone, AI disclosure.
const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

function Line({ tenant, compliance }) {
  const office = tenant.business_hours || {};
  const hours = WEEKDAYS.filter((d) => (office[d] || []).length).map((d) => [d, office[d]]);
  const closures = (office.closures || []).map((c) => (c.reason ? `${c.date} (${c.reason})` : c.date));
  return html`<section aria-labelledby="line-title"><h2 id="line-title">Your line</h2>
    <dl class="facts">
      <dt>Numbers</dt><dd>${tenant.phone_numbers.join(", ") || "none yet"}</dd>
      <dt>Time zone</dt><dd>${tenant.time_zone}</dd>
      <dt>Hours</dt><dd>${hours.length ? hours.map(([d, spans]) => `${d} ${spans.map((x) => `${x.open}-${x.close}`).join(", ")}`).join("; ") : "not set (always open)"}</dd>
      <dt>Closed on</dt><dd>${closures.length ? closures.join(", ") : "no closures"}</dd>
      <dt>Concurrent calls</dt><dd>${tenant.max_concurrent_calls}</dd>
      <dt>AI disclosure</dt><dd>${compliance.disclosure_required ? "the greeting discloses the AI" : "not required"}
        (${compliance.ai_disclosure}${compliance.jurisdiction ? `, ${compliance.jurisdiction}` : ""})</dd>
    </dl>
    <p class="hint">Your platform administrator changes these.</p>
  </section>`;
}

export function AgentSettings() {
  const [state, setState] = useLoad(async () => {
    const [agent, presets, tenant, compliance] = await Promise.all([
      api("/agent"),
      api("/agent/presets"),
      api(`/tenants/${session.user.tenant_id}`),
      api("/agent/compliance"),
    ]);
    return { agent, presets, tenant, compliance, draft: structuredClone(agent), errors: {} };
  }, []);
  const [note, setNote] = useState(null);
  const d = state.data;
  if (!d) return html`<${Status} state=${state} />`;
  const schema = d.presets.update_schema;
  const ctx = {
    defs: schema.$defs || {},
    draft: d.draft,
    errors: d.errors,
    edit: canEdit(),
    presets: d.presets,
    clearable: d.presets.clearable,
    set: (path, v) => setState({ data: { ...d, draft: setIn(d.draft, path, v) }, error: null }),
  };
  const save = async (e) => {
    e.preventDefault();
    const body = { version: d.agent.version };
    for (const k of Object.keys(schema.properties))
      if (!SKIP.has(k) && JSON.stringify(d.draft[k]) !== JSON.stringify(d.agent[k])) body[k] = d.draft[k];
    if (Object.keys(body).length === 1) return setNote("Nothing changed.");
    try {
      const agent = await api("/agent", { method: "PATCH", body });
      setState({ data: { ...d, agent, draft: structuredClone(agent), errors: {} }, error: null });
      setNote(`Saved (version ${agent.version}); the next call uses it.`);
    } catch (err) {
      const errors = err.body ? errorPaths(err.body) : {};
      setState({ data: { ...d, errors }, error: null });
      setNote(Object.keys(errors).length ? "Not saved: see the marked fields." : err.message);
    }
  };
  return html`<section aria-labelledby="settings-title">
    <h1 id="settings-title">Agent settings</h1>
    <${Line} tenant=${d.tenant} compliance=${d.compliance} />
    <form class="settings" onSubmit=${save} novalidate aria-labelledby="settings-title">
      ${Object.entries(schema.properties)
        .filter(([k]) => !SKIP.has(k))
        .map(([k, s]) => html`<${Field} ctx=${ctx} path=${[k]} schema=${s} name=${k} />`)}
      ${ctx.edit && html`<button class="primary" type="submit">Save settings</button>`}
      ${note && html`<p role="status">${note}</p>`}
    </form>
  </section>`;
}
