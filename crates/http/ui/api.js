// The admin API client. The token lives in sessionStorage only (gone when
// the tab closes); an expired or refused token sends the user back to login.

const TOKEN = 'akr.token';
const EXPIRES = 'akr.expires';

export class ApiError extends Error {
  constructor(status, code, message, field, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

let onExpired = () => {};
let expiryTimer = null;

export const session = {
  get token() {
    const token = sessionStorage.getItem(TOKEN);
    const expires = Number(sessionStorage.getItem(EXPIRES) ?? 0);
    if (!token || (expires && Date.now() >= expires)) return null;
    return token;
  },
  start(token, expiresInSeconds) {
    sessionStorage.setItem(TOKEN, token);
    sessionStorage.setItem(EXPIRES, String(Date.now() + expiresInSeconds * 1000));
    this.watch();
  },
  /** Logs out by itself when the token's lifetime ends. */
  watch() {
    clearTimeout(expiryTimer);
    const left = Number(sessionStorage.getItem(EXPIRES) ?? 0) - Date.now();
    if (left > 0 && left < 2 ** 31) expiryTimer = setTimeout(() => { this.clear(); onExpired(); }, left);
  },
  clear() {
    clearTimeout(expiryTimer);
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(EXPIRES);
  },
  onExpired(callback) { onExpired = callback; },
};

/** Calls `/api/admin{path}`; resolves with the JSON answer (null for 204). */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const token = session.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(`/api/admin${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (error) {
    throw new ApiError(0, 'network', String(error?.message ?? error));
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (response.status === 401 && path !== '/login') {
    session.clear();
    onExpired();
  }
  if (!response.ok) {
    const error = data?.error ?? {};
    throw new ApiError(response.status, error.code, error.message ?? response.statusText,
      error.field, response.headers.get('retry-after'));
  }
  return data;
}
