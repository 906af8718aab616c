// Entry point: hash router, page frame (navigation, language, theme, log out).

import { api, session } from './api.js';
import { h } from './dom.js';
import { t, language, setLanguage, LANGUAGES } from './i18n.js';
import * as login from './pages/login.js';
import * as dashboard from './pages/dashboard.js';
import * as services from './pages/services.js';
import * as serviceForm from './pages/service-form.js';
import * as keys from './pages/keys.js';
import * as clientKeys from './pages/client-keys.js';
import * as requestLogs from './pages/request-logs.js';

const routes = [
  [/^#\/login$/, login, {}],
  [/^#\/(dashboard)?$/, dashboard, { nav: 'dashboard' }],
  [/^#\/services$/, services, { nav: 'services' }],
  [/^#\/services\/new$/, serviceForm, { nav: 'services' }],
  [/^#\/services\/(\d+)\/edit$/, serviceForm, { nav: 'services', param: 'id' }],
  [/^#\/services\/(\d+)\/keys$/, keys, { nav: 'services', param: 'id' }],
  [/^#\/client-keys$/, clientKeys, { nav: 'client-keys' }],
  [/^#\/request-logs$/, requestLogs, { nav: 'request-logs' }],
];

let appConfig = null;
let cleanup = null;
let rendering = 0;

export const navigate = (hash) => {
  if (location.hash === hash) route();
  else location.hash = hash;
};

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem('akr.theme', theme);
}

function currentTheme() {
  return localStorage.getItem('akr.theme')
    ?? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
}

function renderTopbar(active) {
  const bar = document.getElementById('topbar');
  bar.replaceChildren();
  if (!session.token) { bar.hidden = true; return; }
  bar.hidden = false;
  const link = (id, hash, label) => h('a', { href: hash, 'aria-current': active === id ? 'page' : null }, label);
  const languageSelect = h('select', { id: 'language', 'aria-label': t('nav.language') },
    LANGUAGES.map(([code, name]) => h('option', { value: code, selected: code === language() }, name)));
  languageSelect.addEventListener('change', () => { setLanguage(languageSelect.value); route(); });
  const theme = currentTheme();
  const themeButton = h('button', {
    type: 'button', class: 'btn ghost', id: 'theme-toggle', 'aria-pressed': theme === 'dark' ? 'true' : 'false',
    onclick: () => { applyTheme(currentTheme() === 'dark' ? 'light' : 'dark'); renderTopbar(active); },
  }, theme === 'dark' ? t('nav.light') : t('nav.dark'));
  const logout = h('button', {
    type: 'button', class: 'btn ghost', id: 'logout',
    onclick: () => { session.clear(); navigate('#/login'); },
  }, t('nav.logout'));
  bar.append(
    h('a', { class: 'brand', href: '#/' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'API Key Rotator'),
    h('nav', { 'aria-label': t('nav.main') },
      link('dashboard', '#/', t('nav.dashboard')),
      link('services', '#/services', t('nav.services')),
      link('client-keys', '#/client-keys', t('nav.clientKeys')),
      link('request-logs', '#/request-logs', t('nav.requestLogs'))),
    h('div', { class: 'tools' }, languageSelect, themeButton, logout),
  );
}

async function route() {
  const hash = location.hash || '#/';
  const found = routes.find(([pattern]) => pattern.test(hash));
  if (!found) { navigate('#/'); return; }
  const [pattern, page, options] = found;
  if (page !== login && !session.token) { navigate('#/login'); return; }
  if (page === login && session.token) { navigate('#/'); return; }
  const ticket = ++rendering;
  if (cleanup) { cleanup(); cleanup = null; }
  renderTopbar(options.nav);
  document.querySelector('.skip-link').textContent = t('nav.skip');
  document.title = `${t(`title.${options.nav ?? 'login'}`)} · API Key Rotator`;
  const main = document.getElementById('main');
  const params = {};
  if (options.param) params[options.param] = Number(hash.match(pattern)[1]);
  try {
    appConfig ??= await api('GET', '/app-config');
    const result = await page.render({ params, appConfig, navigate });
    if (ticket !== rendering) { result.cleanup?.(); return; }
    cleanup = result.cleanup ?? null;
    main.replaceChildren(result.node);
  } catch (error) {
    if (ticket !== rendering) return;
    if (error.status === 401) return; // the expiry handler already went to login
    main.replaceChildren(h('div', { class: 'panel error-panel', role: 'alert' },
      h('h1', {}, t('error.title')), h('p', {}, error.message)));
  }
  if (document.activeElement === document.body) main.focus({ preventScroll: true });
}

session.onExpired(() => {
  // Several calls of one page may be refused at once: go to login once.
  if (location.hash === '#/login') return;
  sessionStorage.setItem('akr.expired', '1');
  navigate('#/login');
});
applyTheme(currentTheme());
document.documentElement.lang = language();
session.watch();
addEventListener('hashchange', route);
route();
