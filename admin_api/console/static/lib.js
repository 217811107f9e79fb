// Shared by the console's pages: the session (tokens in this module's memory only, see
// admin_api/console/__init__.py), the API client with its refresh and sign-in-again flow,
// and small rendering helpers.
import { html, useState, useEffect } from "./vendor/preact-htm.js";

export const API = "/api/v1";
export const session = { access: null, refresh: null, user: null };
let askSignIn = null; // set by <App>: opens the sign-in dialog and resolves when signed in

export async function signIn(email, password) {
  const r = await fetch(`${API}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.detail || `sign-in failed (${r.status})`);
  Object.assign(session, { access: body.access_token, refresh: body.refresh_token, user: body.user });
}

async function refreshTokens() {
  if (!session.refresh) return false;
  const r = await fetch(`${API}/auth/refresh`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: session.refresh }),
  });
  if (!r.ok) return false;
  const body = await r.json();
  Object.assign(session, { access: body.access_token, refresh: body.refresh_token, user: body.user });
  return true;
}

// Every API call: on 401 refresh once, else ask to sign in again (the page stays mounted).
export async function api(path, options = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const headers = { ...(options.headers || {}), authorization: `Bearer ${session.access}` };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const r = await fetch(API + path, {
      ...options,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    if (r.status === 401) {
      if (!(await refreshTokens())) await askSignIn();
      continue;
    }
    if (r.status === 204) return null;
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw Object.assign(new Error(body.detail || `request failed (${r.status})`), { status: r.status, body });
    return body;
  }
  throw new Error("could not sign in");
}

export const canEdit = () => ["owner", "admin"].includes(session.user && session.user.role);
export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
export const secs = (ms) => (ms == null ? "" : `${(ms / 1000).toFixed(1)} s`);

export function useRoute() {
  const [hash, setHash] = useState(location.hash || "#/overview");
  useEffect(() => {
    const on = () => setHash(location.hash || "#/overview");
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash.slice(2).split("/").map(decodeURIComponent);
}

export function useLoad(load, deps) {
  const [state, setState] = useState({ data: null, error: null });
  useEffect(() => {
    let live = true;
    setState({ data: null, error: null });
    load().then(
      (data) => live && setState({ data, error: null }),
      (e) => live && setState({ data: null, error: e.message }),
    );
    return () => (live = false);
  }, deps);
  return [state, setState];
}

export function Status({ state }) {
  if (state.error) return html`<p class="error" role="alert">${state.error}</p>`;
  if (!state.data) return html`<p aria-live="polite">Loading…</p>`;
  return null;
}

export function onSessionEnd(ask) {
  askSignIn = ask;
}
