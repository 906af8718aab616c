import { api, session } from '../api.js';
import { h, field } from '../dom.js';
import { t, language, setLanguage, LANGUAGES } from '../i18n.js';

export async function render({ navigate }) {
  const username = h('input', { type: 'text', autocomplete: 'username', required: true, value: 'admin' });
  const password = h('input', { type: 'password', autocomplete: 'current-password', required: true });
  const message = h('p', { class: 'form-error', role: 'alert', id: 'login-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn primary wide' }, t('login.submit'));
  if (sessionStorage.getItem('akr.expired')) {
    sessionStorage.removeItem('akr.expired');
    message.hidden = false;
    message.textContent = t('login.expired');
  }
  const languageSelect = h('select', { 'aria-label': t('nav.language'), id: 'login-language' },
    LANGUAGES.map(([code, name]) => h('option', { value: code, selected: code === language() }, name)));
  languageSelect.addEventListener('change', () => { setLanguage(languageSelect.value); navigate('#/login'); });

  const form = h('form', { class: 'panel login', novalidate: true },
    h('div', { class: 'login-head' },
      h('span', { class: 'logo big', 'aria-hidden': 'true' }),
      h('h1', {}, 'API Key Rotator'),
      h('p', { class: 'muted' }, t('login.subtitle'))),
    field(t('login.username'), username, { name: 'username' }),
    field(t('login.password'), password, { name: 'password' }),
    message,
    submit,
    h('div', { class: 'login-foot' }, languageSelect));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    message.hidden = true;
    submit.disabled = true;
    try {
      const answer = await api('POST', '/login', { username: username.value, password: password.value });
      session.start(answer.access_token, answer.expires_in);
      navigate('#/');
    } catch (error) {
      message.hidden = false;
      message.textContent = error.status === 401 ? t('login.wrong')
        : error.status === 429 ? t('login.throttled', { s: error.retryAfter ?? '60' })
          : error.message;
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  setTimeout(() => password.focus(), 0);
  return { node: h('div', { class: 'center' }, form) };
}
