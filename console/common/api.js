// api.js: the console's one way to the API: same-origin fetch with the session cookie, the
// CSRF token echoed on every unsafe request, errors as exceptions carrying status and code,
// and the live events (server-sent events; the browser resumes with Last-Event-ID itself).
let csrf = null;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || String(status));
    this.status = status;
    this.code = code || '';
  }
}

export function setCsrf(token) { csrf = token || null; }

// method, path, optional JSON body; opts.idem sets Idempotency-Key, opts.noCsrf leaves the
// token out (the tests use it to see the server refuse).
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrf && !opts.noCsrf) headers['X-CSRF-Token'] = csrf;
  if (opts.idem) headers['Idempotency-Key'] = opts.idem;
  const r = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  let j = null;
  const text = await r.text();
  try { j = text ? JSON.parse(text) : null; } catch { j = null; }
  if (!r.ok) throw new ApiError(r.status, j && j.error && j.error.code, j && j.error && j.error.message);
  return j;
}

// Every item of a list, following next_after (at most max items).
export async function all(path, max = 5000) {
  const out = [];
  let after = null;
  const sep = path.includes('?') ? '&' : '?';
  while (out.length < max) {
    const page = await api('GET', `${path}${sep}limit=1000${after ? `&after=${encodeURIComponent(after)}` : ''}`);
    out.push(...page.items);
    if (!page.next_after) break;
    after = page.next_after;
  }
  return out;
}

// The signed-in session, or null.
export async function currentSession() {
  try {
    const s = await api('GET', '/v1/sessions/current');
    setCsrf(s.csrf_token);
    return s;
  } catch (e) {
    if (e.status === 401 || e.status === 404) return null;
    throw e;
  }
}

export async function signIn(username, password) {
  const s = await api('POST', '/v1/sessions', { username, password });
  setCsrf(s.csrf_token);
  return s;
}

export async function signOut() {
  try { await api('DELETE', '/v1/sessions/current'); } finally { setCsrf(null); }
}

// Live events: handlers by event name ({account, alarm, command, payment}); returns a
// function that closes the stream. onState('open'|'error') says how the stream stands.
export function events(handlers, onState) {
  if (typeof EventSource === 'undefined') return () => {};
  // Closed when the page is left and opened again if it comes back from the back-forward
  // cache: a left page's open stream holds one of the browser's six connections to this host,
  // and six of them stall every request of the console.
  let es = null;
  const open = () => {
    es = new EventSource('/v1/events', { withCredentials: true });
    for (const [name, fn] of Object.entries(handlers)) {
      es.addEventListener(name, (ev) => {
        let data;
        try { data = JSON.parse(ev.data); } catch { return; }
        fn(data, ev.lastEventId);
      });
    }
    if (onState) {
      es.addEventListener('open', () => onState('open'));
      es.addEventListener('error', () => onState('error'));
    }
  };
  const hide = () => { if (es) { es.close(); es = null; if (onState) onState('error'); } };
  const show = (e) => { if (e.persisted && !es) open(); };
  window.addEventListener('pagehide', hide);
  window.addEventListener('pageshow', show);
  open();
  return () => { window.removeEventListener('pagehide', hide); window.removeEventListener('pageshow', show); hide(); };
}

// An Idempotency-Key made by the page, one per confirmed action.
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}
