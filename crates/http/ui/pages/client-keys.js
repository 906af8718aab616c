import { api } from '../api.js';
import { h, field, num, table, toggle, toast, confirmDialog, copyButton, showFieldError } from '../dom.js';
import { t } from '../i18n.js';

const REFRESH_MS = 5000;

export async function render() {
  const [initial, services] = await Promise.all([api('GET', '/client-keys'), api('GET', '/proxy-configs')]);
  const listing = h('div', { id: 'client-key-list' });
  const created = h('div', { id: 'created-key', 'aria-live': 'polite' });

  const draw = (keys) => {
    if (keys.length === 0) {
      listing.replaceChildren(h('p', { class: 'empty' }, t('clientKeys.none')));
      return;
    }
    listing.replaceChildren(table(t('clientKeys.title'),
      [t('clientKeys.name'), t('keys.key'), t('clientKeys.allowed'), t('keys.rpm'), t('clientKeys.expires'),
        t('usage.requests'), t('usage.tokens'), t('clientKeys.lastUsed'), t('clientKeys.active'), t('common.actions')],
      keys.map((key) => {
        const active = toggle(t('clientKeys.active'), key.is_active, async (on, input) => {
          try {
            await api('PATCH', `/client-keys/${key.id}`, { is_active: on });
            toast(on ? t('clientKeys.enabled', key) : t('clientKeys.revoked', key));
          } catch (error) { input.checked = !on; toast(error.message, 'error'); }
        });
        const remove = h('button', { type: 'button', class: 'btn small danger' }, t('common.delete'));
        remove.addEventListener('click', async () => {
          if (!await confirmDialog(t('clientKeys.confirmDelete', key), t('common.delete'), t('common.cancel'))) return;
          try { await api('DELETE', `/client-keys/${key.id}`); await load(); } catch (error) { toast(error.message, 'error'); }
        });
        return h('tr', { 'data-client-key': key.name },
          h('td', {}, h('strong', {}, key.name)),
          h('td', { class: 'mono' }, key.key_masked),
          h('td', {}, key.allowed_slugs ? key.allowed_slugs.join(', ') : h('span', { class: 'muted' }, t('clientKeys.all'))),
          h('td', { class: 'num' }, key.rpm_limit ?? '∞'),
          h('td', {}, key.expires_at ? when(key.expires_at) : h('span', { class: 'muted' }, t('clientKeys.never'))),
          h('td', { class: 'num requests' }, num(key.requests)),
          h('td', { class: 'num' }, `${num(key.input_tokens)} / ${num(key.output_tokens)}`),
          h('td', {}, key.last_used_at ? when(key.last_used_at) : '—'),
          h('td', {}, active),
          h('td', {}, h('div', { class: 'actions row-actions' }, remove)));
      })));
  };
  const load = async () => draw(await api('GET', '/client-keys'));

  const name = h('input', { type: 'text', required: true, maxlength: '100' });
  const rpm = h('input', { type: 'number', min: '1', placeholder: '∞' });
  const expires = h('input', { type: 'datetime-local' });
  const slugBoxes = services.map((s) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', value: s.slug, name: 'allowed_slugs' }), ' ', s.name, ' ', h('span', { class: 'muted mono' }, `(${s.slug})`)));
  const form = h('form', { class: 'panel form', novalidate: true },
    h('h2', {}, t('clientKeys.create')),
    h('div', { class: 'row three' },
      field(t('clientKeys.name'), name, { name: 'name' }),
      field(t('keys.rpm'), rpm, { name: 'rpm_limit', hint: t('clientKeys.rpmHint') }),
      field(t('clientKeys.expires'), expires, { name: 'expires_at', hint: t('clientKeys.expiresHint') })),
    h('fieldset', { class: 'group', 'data-field': 'allowed_slugs' },
      h('legend', {}, t('clientKeys.allowed')),
      h('p', { class: 'hint' }, t('clientKeys.allowedHint')),
      slugBoxes.length ? h('div', { class: 'checks' }, slugBoxes) : h('p', { class: 'muted' }, t('services.none'))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn primary' }, t('clientKeys.createButton'))));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showFieldError(form, null);
    const body = { name: name.value.trim() };
    if (!body.name) { showFieldError(form, 'name', t('validation.required')); return; }
    if (rpm.value) body.rpm_limit = Number(rpm.value);
    if (expires.value) body.expires_at = new Date(expires.value).toISOString();
    const slugs = [...form.querySelectorAll('input[name=allowed_slugs]:checked')].map((b) => b.value);
    if (slugs.length) body.allowed_slugs = slugs;
    try {
      const answer = await api('POST', '/client-keys', body);
      form.reset();
      showCreated(answer);
      await load();
    } catch (error) {
      if (error.field) showFieldError(form, error.field, error.message);
      else toast(error.message, 'error');
    }
  });

  // The full key exists only in this answer: shown once, with a copy button.
  const showCreated = (answer) => {
    const value = h('code', { class: 'secret', id: 'new-client-key' }, answer.key);
    const dismiss = h('button', { type: 'button', class: 'btn small' }, t('clientKeys.dismiss'));
    dismiss.addEventListener('click', () => created.replaceChildren());
    created.replaceChildren(h('div', { class: 'panel once', role: 'alert' },
      h('h2', {}, t('clientKeys.createdTitle', answer)),
      h('p', {}, t('clientKeys.shownOnce')),
      h('div', { class: 'secret-row' }, value, copyButton(() => answer.key, t('common.copy'), t('common.copied')), dismiss)));
  };

  draw(initial);
  const refresh = setInterval(() => {
    if (!listing.contains(document.activeElement)) load().catch(() => {});
  }, REFRESH_MS);
  const node = h('section', { 'aria-labelledby': 'client-keys-title' },
    h('div', { class: 'page-head' },
      h('h1', { id: 'client-keys-title' }, t('clientKeys.title')),
      h('p', { class: 'muted' }, t('clientKeys.intro'))),
    created, form, listing);
  return { node, cleanup: () => clearInterval(refresh) };
}

const when = (iso) => h('time', { datetime: iso, title: iso }, new Date(iso).toLocaleString());
