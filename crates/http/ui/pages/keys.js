import { api } from '../api.js';
import { h, field, num, table, toggle, toast, confirmDialog } from '../dom.js';
import { t } from '../i18n.js';

const REFRESH_MS = 5000;

export async function render({ params }) {
  const id = params.id;
  const config = await api('GET', `/proxy-configs/${id}`);
  const listing = h('div', { id: 'key-list' });
  const report = h('div', { class: 'report', role: 'status', 'aria-live': 'polite', id: 'import-report' });
  let keys = [];

  const load = async () => {
    keys = await api('GET', `/proxy-configs/${id}/keys`);
    draw();
  };
  const draw = () => {
    if (keys.length === 0) {
      listing.replaceChildren(h('p', { class: 'empty' }, t('keys.none')));
      return;
    }
    listing.replaceChildren(table(t('keys.title'), [t('keys.key'), t('keys.state'), t('keys.lastError'),
      t('keys.weight'), t('keys.rpm'), t('usage.requests'), t('usage.failures'), t('usage.tokens'),
      t('keys.enabled'), t('common.actions')], keys.map(row)));
    tick();
  };
  const row = (key) => {
    const weight = h('input', { type: 'number', min: '1', max: '1000', value: String(key.weight), class: 'tiny', 'aria-label': t('keys.weightOf', key) });
    weight.addEventListener('change', () => patch(key, { weight: Number(weight.value) }));
    const rpm = h('input', { type: 'number', min: '1', value: key.rpm_limit ?? '', placeholder: '∞', class: 'tiny', 'aria-label': t('keys.rpmOf', key) });
    rpm.addEventListener('change', () => patch(key, { rpm_limit: rpm.value ? Number(rpm.value) : null }));
    const enabled = toggle(t('keys.enabled'), key.is_active, (on, input) =>
      patch(key, { is_active: on }).catch(() => { input.checked = !on; }));
    const test = h('button', { type: 'button', class: 'btn small' }, t('keys.test'));
    test.addEventListener('click', async () => {
      test.disabled = true;
      try {
        const result = await api('POST', `/keys/${key.id}/test`);
        toast(result.ok ? t('keys.testOk', { ...key, ms: result.latency_ms, status: result.status })
          : t('keys.testFailed', { ...key, status: result.status ?? '—', error: result.error ?? '' }), result.ok ? 'ok' : 'error');
        await load();
      } catch (error) { toast(error.message, 'error'); } finally { test.disabled = false; }
    });
    const remove = h('button', { type: 'button', class: 'btn small danger' }, t('common.delete'));
    remove.addEventListener('click', async () => {
      if (!await confirmDialog(t('keys.confirmDelete', key), t('common.delete'), t('common.cancel'))) return;
      try { await api('DELETE', `/keys/${key.id}`); await load(); } catch (error) { toast(error.message, 'error'); }
    });
    const state = h('span', { class: `badge ${key.state}` }, t(`state.${key.state}`));
    const countdown = key.cooldown_until ? h('span', { class: 'countdown muted', 'data-until': key.cooldown_until }) : null;
    return h('tr', { 'data-key-id': String(key.id) },
      h('td', { class: 'mono' }, key.key_masked),
      h('td', {}, state, countdown),
      h('td', { class: 'error-cell' }, key.last_error
        ? h('span', { title: key.last_error }, key.last_status ? `${key.last_status} · ` : '', key.last_error)
        : h('span', { class: 'muted' }, key.consecutive_failures ? t('keys.failuresInRow', key) : '—')),
      h('td', {}, weight),
      h('td', {}, rpm),
      h('td', { class: 'num requests' }, num(key.requests)),
      h('td', { class: 'num failures' }, num(key.failures)),
      h('td', { class: 'num' }, `${num(key.input_tokens)} / ${num(key.output_tokens)}`),
      h('td', {}, enabled),
      h('td', {}, h('div', { class: 'actions row-actions' }, test, remove)));
  };
  const patch = async (key, body) => {
    try {
      await api('PATCH', `/keys/${key.id}`, body);
      toast(t('keys.updated', key));
      await load();
    } catch (error) {
      toast(error.message, 'error');
      throw error;
    }
  };
  // Cooldowns count down every second between refreshes.
  const tick = () => {
    for (const el of listing.querySelectorAll('.countdown')) {
      const left = Math.ceil((Date.parse(el.dataset.until) - Date.now()) / 1000);
      el.textContent = left > 0 ? ` ${t('keys.cooldownLeft', { s: left })}` : '';
    }
  };

  // Add one key.
  const single = h('input', { type: 'password', autocomplete: 'off', class: 'mono', spellcheck: 'false' });
  const addForm = h('form', { class: 'inline-form' },
    field(t('keys.addOne'), single, { name: 'key_value' }),
    h('button', { type: 'submit', class: 'btn primary' }, t('keys.add')));
  addForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!single.value.trim()) return;
    try {
      const added = await api('POST', `/proxy-configs/${id}/keys`, { key_value: single.value.trim() });
      single.value = '';
      toast(t('keys.added', added));
      await load();
    } catch (error) { toast(error.message, 'error'); }
  });

  // Batch import: one key per line.
  const batch = h('textarea', { rows: '5', class: 'mono', spellcheck: 'false', autocomplete: 'off', id: 'batch-keys' });
  const importForm = h('form', { class: 'stack' },
    field(t('keys.batch'), batch, { name: 'keys', hint: t('keys.batchHint') }),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn primary' }, t('keys.import'))),
    report);
  importForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!batch.value.trim()) return;
    try {
      const result = await api('POST', `/proxy-configs/${id}/keys/batch`, { keys: batch.value });
      batch.value = '';
      report.replaceChildren(h('p', {}, t('keys.imported', result)),
        result.failed_keys.length ? h('ul', {}, result.failed_keys.map((f) => h('li', {}, h('span', { class: 'mono' }, f.key_masked), ': ', f.error))) : null);
      await load();
    } catch (error) {
      report.replaceChildren(h('p', { class: 'form-error' }, error.message));
    }
  });

  const clear = h('button', { type: 'button', class: 'btn danger' }, t('keys.clear'));
  clear.addEventListener('click', async () => {
    if (!await confirmDialog(t('keys.confirmClear', config), t('keys.clear'), t('common.cancel'))) return;
    try {
      const result = await api('DELETE', `/proxy-configs/${id}/keys`);
      toast(t('keys.cleared', result));
      await load();
    } catch (error) { toast(error.message, 'error'); }
  });

  await load();
  // A refresh would replace the control being used: skip it while focus is in the table.
  const refresh = setInterval(() => {
    if (!listing.contains(document.activeElement)) load().catch(() => {});
  }, REFRESH_MS);
  const countdown = setInterval(tick, 1000);
  const node = h('section', { 'aria-labelledby': 'keys-title' },
    h('div', { class: 'page-head' },
      h('div', {},
        h('p', { class: 'crumbs' }, h('a', { href: '#/services' }, t('nav.services')), ' / ', config.name),
        h('h1', { id: 'keys-title' }, t('keys.titleOf', config))),
      h('div', { class: 'actions' },
        h('a', { class: 'btn', href: `#/services/${id}/edit` }, t('common.edit')), clear)),
    h('div', { class: 'panel two-col' }, addForm, importForm),
    listing);
  return { node, cleanup: () => { clearInterval(refresh); clearInterval(countdown); } };
}
