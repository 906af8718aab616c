import { api } from '../api.js';
import { h, field, showFieldError, toast } from '../dom.js';
import { t } from '../i18n.js';

const API_FORMATS = ['openai_compatible', 'openai_responses', 'anthropic_native', 'gemini_native'];
const OUTPUT_FORMATS = ['auto', 'none', 'openai', 'openai_responses', 'anthropic', 'gemini'];
const METHODS = ['ANY', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const LOCATIONS = ['header', 'query', 'bearer'];
const STRATEGIES = ['round_robin', 'weighted', 'random'];

const select = (options, value, label = (o) => o) =>
  h('select', {}, options.map((o) => h('option', { value: o, selected: o === value }, label(o))));

export async function render({ params, navigate }) {
  const editing = params.id !== undefined;
  const config = editing ? await api('GET', `/proxy-configs/${params.id}`) : {
    config_type: 'llm', api_format: 'openai_compatible', output_format: 'auto', method: 'ANY',
    api_key_location: null, rotation_strategy: 'round_robin', max_attempts: 3, is_active: true,
  };
  const c = {
    name: h('input', { type: 'text', required: true, maxlength: '100', value: config.name ?? '' }),
    slug: h('input', { type: 'text', required: true, pattern: '[a-z0-9][a-z0-9_-]{0,62}', class: 'mono', value: config.slug ?? '', spellcheck: 'false' }),
    config_type: select(['llm', 'generic'], config.config_type, (o) => t(`services.type.${o}`)),
    target_base_url: h('input', { type: 'url', class: 'mono', value: config.target_base_url ?? '', placeholder: 'https://api.openai.com/v1' }),
    api_format: select(API_FORMATS, config.api_format, (o) => t(`format.${o}`)),
    output_format: select(OUTPUT_FORMATS, config.output_format ?? 'auto', (o) => t(`output.${o}`)),
    target_url: h('input', { type: 'url', class: 'mono', value: config.target_url ?? '', placeholder: 'https://api.example.com' }),
    method: select(METHODS, config.method ?? 'ANY'),
    api_key_location: select(['', ...LOCATIONS], config.api_key_location ?? '', (o) => (o ? t(`location.${o}`) : t('location.default'))),
    api_key_name: h('input', { type: 'text', class: 'mono', value: config.api_key_name ?? '' }),
    model_map: h('textarea', { rows: '3', class: 'mono', spellcheck: 'false', placeholder: '{"gpt-4o": "claude-sonnet-4-5"}' }),
    rotation_strategy: select(STRATEGIES, config.rotation_strategy, (o) => t(`strategy.${o}`)),
    max_attempts: h('input', { type: 'number', min: '1', max: '20', value: String(config.max_attempts ?? 3) }),
    timeout_s: h('input', { type: 'number', min: '1', max: '3600', value: config.timeout_s ?? '', placeholder: t('services.timeoutDefault') }),
    error_rules: h('textarea', { rows: '5', class: 'mono', spellcheck: 'false' }),
  };
  c.model_map.value = config.model_map && Object.keys(config.model_map).length ? JSON.stringify(config.model_map, null, 2) : '';
  c.error_rules.value = editing ? JSON.stringify(config.error_rules, null, 2) : '';

  const llmFields = h('fieldset', { class: 'group' }, h('legend', {}, t('services.llmTarget')),
    field(t('services.targetBaseUrl'), c.target_base_url, { name: 'target_base_url', hint: t('services.targetBaseUrlHint') }),
    h('div', { class: 'row' },
      field(t('services.apiFormat'), c.api_format, { name: 'api_format' }),
      field(t('services.outputFormat'), c.output_format, { name: 'output_format', hint: t('services.outputFormatHint') })),
    field(t('services.modelMap'), c.model_map, { name: 'model_map', hint: t('services.modelMapHint') }));
  const genericFields = h('fieldset', { class: 'group' }, h('legend', {}, t('services.genericTarget')),
    field(t('services.targetUrl'), c.target_url, { name: 'target_url' }),
    field(t('services.method'), c.method, { name: 'method' }));
  const keyPlacement = h('fieldset', { class: 'group' }, h('legend', {}, t('services.keyPlacement')),
    h('div', { class: 'row' },
      field(t('services.keyLocation'), c.api_key_location, { name: 'api_key_location' }),
      field(t('services.keyName'), c.api_key_name, { name: 'api_key_name', hint: t('services.keyNameHint') })));
  const showType = () => {
    const llm = c.config_type.value === 'llm';
    llmFields.hidden = !llm;
    genericFields.hidden = llm;
  };
  c.config_type.addEventListener('change', showType);
  showType();
  c.name.addEventListener('input', () => {
    if (!editing && !c.slug.dataset.touched) {
      c.slug.value = c.name.value.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
    }
  });
  c.slug.addEventListener('input', () => { c.slug.dataset.touched = '1'; });

  const formError = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn primary' }, editing ? t('common.save') : t('services.create'));
  const form = h('form', { class: 'panel form', novalidate: true },
    h('div', { class: 'row' },
      field(t('services.name'), c.name, { name: 'name' }),
      field(t('services.slug'), c.slug, { name: 'slug', hint: t('services.slugHint') })),
    field(t('services.type'), c.config_type, { name: 'config_type' }),
    llmFields, genericFields, keyPlacement,
    h('fieldset', { class: 'group' }, h('legend', {}, t('services.rotation')),
      h('div', { class: 'row three' },
        field(t('services.strategy'), c.rotation_strategy, { name: 'rotation_strategy' }),
        field(t('services.maxAttempts'), c.max_attempts, { name: 'max_attempts' }),
        field(t('services.timeout'), c.timeout_s, { name: 'timeout_s' })),
      field(t('services.errorRules'), c.error_rules, { name: 'error_rules', hint: t('services.errorRulesHint') })),
    formError,
    h('div', { class: 'actions' },
      h('a', { class: 'btn', href: '#/services' }, t('common.cancel')), submit));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    formError.hidden = true;
    showFieldError(form, null);
    let body;
    try {
      body = collect(c);
    } catch (error) {
      showFieldError(form, error.field, error.message);
      return;
    }
    if (editing) body.is_active = config.is_active;
    submit.disabled = true;
    try {
      const saved = editing
        ? await api('PUT', `/proxy-configs/${params.id}`, body)
        : await api('POST', '/proxy-configs', body);
      toast(t(editing ? 'services.saved' : 'services.created', saved));
      navigate(editing ? '#/services' : `#/services/${saved.id}/keys`);
    } catch (error) {
      if (error.field && form.querySelector(`.field[data-field="${CSS.escape(error.field.split(/[.[]/)[0])}"]`)) {
        showFieldError(form, error.field, error.message);
      } else {
        formError.hidden = false;
        formError.textContent = error.field ? `${error.field}: ${error.message}` : error.message;
      }
    } finally {
      submit.disabled = false;
    }
  });
  const node = h('section', { 'aria-labelledby': 'form-title' },
    h('div', { class: 'page-head' },
      h('h1', { id: 'form-title' }, editing ? t('services.editTitle', config) : t('services.newTitle'))),
    form);
  setTimeout(() => c.name.focus(), 0);
  return { node };
}

function fieldError(field, message) {
  return Object.assign(new Error(message), { field });
}

function json(control, field, expect) {
  const text = control.value.trim();
  if (!text) return undefined;
  try {
    const value = JSON.parse(text);
    if (!expect(value)) throw new Error();
    return value;
  } catch {
    throw fieldError(field, t(`services.${field}Invalid`));
  }
}

/** The request body, in the API's own field names. */
function collect(c) {
  const body = {
    name: c.name.value.trim(),
    slug: c.slug.value.trim(),
    config_type: c.config_type.value,
    rotation_strategy: c.rotation_strategy.value,
  };
  if (!body.name) throw fieldError('name', t('validation.required'));
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(body.slug)) throw fieldError('slug', t('services.slugHint'));
  if (c.max_attempts.value) body.max_attempts = Number(c.max_attempts.value);
  body.timeout_s = c.timeout_s.value ? Number(c.timeout_s.value) : null;
  if (body.config_type === 'llm') {
    body.target_base_url = c.target_base_url.value.trim();
    body.api_format = c.api_format.value;
    body.output_format = c.output_format.value;
    const map = json(c.model_map, 'model_map', (v) => v && typeof v === 'object' && !Array.isArray(v));
    if (map) body.model_map = map;
  } else {
    body.target_url = c.target_url.value.trim();
    body.method = c.method.value;
  }
  if (c.api_key_location.value) body.api_key_location = c.api_key_location.value;
  if (c.api_key_name.value.trim()) body.api_key_name = c.api_key_name.value.trim();
  const rules = json(c.error_rules, 'error_rules', Array.isArray);
  if (rules) body.error_rules = rules;
  return body;
}
