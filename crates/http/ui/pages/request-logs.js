import { api } from '../api.js';
import { h, field, num, table } from '../dom.js';
import { t } from '../i18n.js';

const PAGE = 50;

export async function render() {
  const [services, clientKeys] = await Promise.all([api('GET', '/proxy-configs'), api('GET', '/client-keys')]);
  const option = (value, label) => h('option', { value }, label);
  const service = h('select', {}, option('', t('logs.any')), services.map((s) => option(s.slug, `${s.name} (${s.slug})`)));
  const client = h('select', {}, option('', t('logs.any')), clientKeys.map((k) => option(k.name, k.name)));
  const status = h('select', {}, option('', t('logs.any')), ['2xx', '4xx', '5xx'].map((s) => option(s, s)));
  const since = h('input', { type: 'datetime-local' });
  const until = h('input', { type: 'datetime-local' });
  const body = h('tbody', {});
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, t('logs.more'));
  const summary = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite', id: 'log-summary' });
  let cursor = null;
  let shown = 0;

  const query = () => {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (service.value) params.set('service', service.value);
    if (client.value) params.set('client_key', client.value);
    if (status.value) params.set('status', status.value);
    if (since.value) params.set('since', new Date(since.value).toISOString());
    if (until.value) params.set('until', new Date(until.value).toISOString());
    if (cursor) params.set('cursor', cursor);
    return `/request-logs?${params}`;
  };
  const load = async (reset) => {
    if (reset) { cursor = null; shown = 0; body.replaceChildren(); }
    const page = await api('GET', query());
    body.append(...page.items.map(row));
    shown += page.items.length;
    cursor = page.next_cursor;
    more.hidden = !cursor;
    summary.textContent = shown ? t('logs.shown', { n: shown }) : t('logs.none');
  };
  more.addEventListener('click', () => load(false));
  const form = h('form', { class: 'panel filters' },
    h('div', { class: 'row five' },
      field(t('logs.service'), service, { name: 'service' }),
      field(t('logs.clientKey'), client, { name: 'client_key' }),
      field(t('logs.status'), status, { name: 'status' }),
      field(t('logs.since'), since, { name: 'since' }),
      field(t('logs.until'), until, { name: 'until' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn primary' }, t('logs.apply'))));
  form.addEventListener('submit', (event) => { event.preventDefault(); load(true); });
  await load(true);
  const node = h('section', { 'aria-labelledby': 'logs-title' },
    h('div', { class: 'page-head' },
      h('h1', { id: 'logs-title' }, t('logs.title')),
      h('p', { class: 'muted' }, t('logs.intro'))),
    form,
    summary,
    table(t('logs.title'), [t('logs.time'), t('logs.service'), t('logs.clientKey'), t('keys.key'), t('logs.formats'),
      t('logs.model'), t('logs.status'), t('logs.attempts'), t('logs.latency'), t('usage.tokens')], []),
    h('div', { class: 'actions center-actions' }, more));
  node.querySelector('tbody').replaceWith(body);
  return { node };
}

function row(entry) {
  const kind = entry.status >= 500 ? 'invalid' : entry.status >= 400 ? 'cooling_down' : 'healthy';
  const formats = entry.client_format
    ? (entry.client_format === entry.upstream_format?.replace(/_(compatible|native)$/, '') ? entry.client_format : `${entry.client_format} → ${entry.upstream_format}`)
    : '—';
  return h('tr', { 'data-request-id': entry.request_id },
    h('td', {}, h('time', { datetime: entry.time, title: entry.request_id }, new Date(entry.time).toLocaleString())),
    h('td', { class: 'mono' }, entry.service),
    h('td', {}, entry.client_key || '—'),
    h('td', { class: 'mono' }, entry.key_hint ?? '—'),
    h('td', {}, formats),
    h('td', { class: 'mono' }, entry.model ?? '—'),
    h('td', {}, h('span', { class: `badge ${kind}` }, String(entry.status))),
    h('td', { class: 'num attempts' }, String(entry.attempts)),
    h('td', { class: 'num' }, `${num(entry.latency_ms)} ms`, entry.ttfb_ms !== null ? h('div', { class: 'muted' }, t('logs.ttfb', { ms: num(entry.ttfb_ms) })) : null),
    h('td', { class: 'num' }, `${num(entry.input_tokens)} / ${num(entry.output_tokens)}`));
}
