import { api } from '../api.js';
import { h, num, table } from '../dom.js';
import { t } from '../i18n.js';

const REFRESH_MS = 5000;

export async function render({ appConfig }) {
  const node = h('section', { 'aria-labelledby': 'dashboard-title' });
  const fill = (stats) => {
    const totals = stats.totals;
    const card = (id, label, value) => h('div', { class: 'card', id: `total-${id}` },
      h('span', { class: 'card-label' }, label), h('span', { class: 'card-value' }, num(value)));
    node.replaceChildren(
      h('div', { class: 'page-head' },
        h('h1', { id: 'dashboard-title' }, t('dashboard.title')),
        h('p', { class: 'muted' }, t('dashboard.instance', appConfig))),
      h('div', { class: 'cards' },
        card('requests', t('usage.requests'), totals.requests),
        card('failures', t('usage.failures'), totals.failures),
        card('failovers', t('usage.failovers'), totals.failovers),
        card('input-tokens', t('usage.inputTokens'), totals.input_tokens),
        card('output-tokens', t('usage.outputTokens'), totals.output_tokens)),
      h('h2', {}, t('dashboard.byService')),
      stats.services.length === 0
        ? h('p', { class: 'empty' }, t('services.none'), ' ', h('a', { href: '#/services/new' }, t('services.create')))
        : table(t('dashboard.byService'),
          [t('services.name'), t('usage.requests'), t('usage.failures'), t('usage.failovers'), t('usage.tokens'), t('keys.health')],
          stats.services.map(serviceRow)),
    );
  };
  fill(await api('GET', '/stats'));
  const timer = setInterval(async () => {
    try { fill(await api('GET', '/stats')); } catch { /* shown on the next navigation */ }
  }, REFRESH_MS);
  return { node, cleanup: () => clearInterval(timer) };
}

const serviceRow = (s) => h('tr', {},
  h('td', {}, h('a', { href: `#/services/${s.id}/keys` }, s.name), h('div', { class: 'muted mono' }, s.slug)),
  h('td', { class: 'num' }, num(s.requests)),
  h('td', { class: 'num' }, num(s.failures)),
  h('td', { class: 'num' }, num(s.failovers)),
  h('td', { class: 'num' }, `${num(s.input_tokens)} / ${num(s.output_tokens)}`),
  h('td', {}, healthBadges(s.keys)));

/** Key counts by state as small badges. */
export function healthBadges(keys) {
  const parts = [['healthy', keys.healthy], ['cooling_down', keys.cooling_down],
    ['invalid', keys.invalid], ['disabled', keys.disabled]].filter(([, n]) => n > 0);
  if (parts.length === 0) return h('span', { class: 'muted' }, t('keys.noKeys'));
  return h('span', { class: 'badges' },
    parts.map(([state, n]) => h('span', { class: `badge ${state}` }, `${n} ${t(`state.${state}`)}`)));
}
