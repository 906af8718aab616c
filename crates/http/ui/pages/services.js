import { api } from '../api.js';
import { h, table, toggle, toast, confirmDialog, copyButton } from '../dom.js';
import { t } from '../i18n.js';
import { healthBadges } from './dashboard.js';
import { snippets } from '../snippets.js';

export async function render({ appConfig, navigate }) {
  const [configs, stats] = await Promise.all([api('GET', '/proxy-configs'), api('GET', '/stats')]);
  const health = new Map(stats.services.map((s) => [s.id, s.keys]));
  const node = h('section', { 'aria-labelledby': 'services-title' });
  const head = h('div', { class: 'page-head' },
    h('h1', { id: 'services-title' }, t('services.title')),
    h('a', { class: 'btn primary', href: '#/services/new' }, t('services.create')));
  if (configs.length === 0) {
    node.append(head, h('p', { class: 'empty' }, t('services.none')));
    return { node };
  }
  const rows = configs.map((config) => {
    const usage = h('tr', { class: 'snippet-row', hidden: true },
      h('td', { colspan: '6' }, usagePanel(config, appConfig)));
    const useButton = h('button', { type: 'button', class: 'btn small', 'aria-expanded': 'false' }, t('services.use'));
    useButton.addEventListener('click', () => {
      usage.hidden = !usage.hidden;
      useButton.setAttribute('aria-expanded', String(!usage.hidden));
    });
    const status = toggle(t('services.active'), config.is_active, async (on, input) => {
      try {
        await api('PUT', `/proxy-configs/${config.id}/status`, { is_active: on });
        toast(on ? t('services.enabled', config) : t('services.disabled', config));
      } catch (error) {
        input.checked = !on;
        toast(error.message, 'error');
      }
    });
    const remove = h('button', { type: 'button', class: 'btn small danger' }, t('common.delete'));
    remove.addEventListener('click', async () => {
      if (!await confirmDialog(t('services.confirmDelete', config), t('common.delete'), t('common.cancel'))) return;
      try {
        await api('DELETE', `/proxy-configs/${config.id}`);
        toast(t('services.deleted', config));
        navigate('#/services');
      } catch (error) { toast(error.message, 'error'); }
    });
    const kind = config.config_type === 'llm' ? t(`format.${config.api_format}`) : `${t('services.generic')} · ${config.method}`;
    return [h('tr', { 'data-slug': config.slug },
      h('td', {}, h('strong', {}, config.name), h('div', { class: 'muted mono' }, config.slug)),
      h('td', {}, kind),
      h('td', { class: 'num' }, `${config.active_key_count} / ${config.key_count}`),
      h('td', {}, healthBadges(health.get(config.id) ?? {})),
      h('td', {}, status),
      h('td', {}, h('div', { class: 'actions row-actions' },
        h('a', { class: 'btn small', href: `#/services/${config.id}/keys` }, t('services.keys')),
        h('a', { class: 'btn small', href: `#/services/${config.id}/edit` }, t('common.edit')),
        useButton, remove))), usage];
  });
  node.append(head, table(t('services.title'),
    [t('services.name'), t('services.type'), t('services.keyCount'), t('keys.health'), t('services.status'), t('common.actions')],
    rows));
  return { node };
}

/** Base URL and copy-ready snippets for one service. */
function usagePanel(config, appConfig) {
  const list = snippets(config, appConfig.proxy_public_base_url);
  return h('div', { class: 'snippets' },
    list.map(({ title, code }) => h('figure', { class: 'snippet' },
      h('figcaption', {}, h('span', {}, title), copyButton(() => code, t('common.copy'), t('common.copied'))),
      h('pre', { tabindex: '0' }, h('code', {}, code)))));
}
