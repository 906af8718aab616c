// Small DOM helpers. Text always goes in as text nodes, never as HTML, so
// nothing an upstream or an admin typed can run as script.

/** Creates an element: h('button', {class: 'x', onclick: f}, 'label', child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      el.className = value;
    } else if (name === 'text') {
      el.textContent = value;
    } else if (name === 'value' || name === 'checked' || name === 'selected') {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let ids = 0;
/** A unique id for label/control pairs. */
export const uid = (prefix = 'f') => `${prefix}-${++ids}`;

/** A labelled form field; `control` gets the id, the hint and error are described-by. */
export function field(label, control, { hint, name } = {}) {
  const id = control.id || uid();
  control.id = id;
  if (name) control.name = name;
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  const described = [error.id];
  let hintEl = null;
  if (hint) {
    hintEl = h('p', { class: 'hint', id: `${id}-hint` }, hint);
    described.push(hintEl.id);
  }
  control.setAttribute('aria-describedby', described.join(' '));
  // An error stays until the field is edited.
  control.addEventListener('input', () => {
    error.hidden = true;
    control.removeAttribute('aria-invalid');
  });
  const wrap = h('div', { class: 'field', 'data-field': name ?? '' },
    h('label', { for: id }, label), control, hintEl, error);
  return wrap;
}

/** Shows `message` under the field named `name` inside `form` (or clears all with no name). */
export function showFieldError(form, name, message) {
  for (const wrap of form.querySelectorAll('.field')) {
    const error = wrap.querySelector('.field-error');
    const control = wrap.querySelector('input, select, textarea');
    const match = name && wrap.dataset.field && (name === wrap.dataset.field || name.startsWith(`${wrap.dataset.field}[`) || name.startsWith(`${wrap.dataset.field}.`));
    error.hidden = !match;
    error.textContent = match ? message : '';
    if (control) control.toggleAttribute('aria-invalid', Boolean(match));
    if (match && control) control.focus();
  }
}

/** A transient message in the corner (announced to screen readers). */
export function toast(message, kind = 'ok') {
  const box = document.getElementById('toasts');
  const item = h('div', { class: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 6000 : 3000);
}

/** A modal confirmation; resolves true when confirmed. */
export function confirmDialog(message, confirmLabel, cancelLabel) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { class: 'dialog', 'aria-label': message });
    const done = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    dialog.append(
      h('p', {}, message),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn', onclick: () => done(false) }, cancelLabel),
        h('button', { type: 'button', class: 'btn danger', onclick: () => done(true) }, confirmLabel)),
    );
    dialog.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector('.btn')?.focus();
  });
}

/** A button that copies `text()` to the clipboard. */
export function copyButton(text, label, copiedLabel) {
  const button = h('button', { type: 'button', class: 'btn small', 'aria-label': label }, label);
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text());
    } catch {
      // Clipboard API unavailable (plain http on another host): select instead.
      const area = h('textarea', { class: 'offscreen', 'aria-hidden': 'true' });
      area.value = text();
      document.body.append(area);
      area.select();
      document.execCommand('copy');
      area.remove();
    }
    button.textContent = copiedLabel;
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}

/** A table inside a horizontally scrolling wrapper (phone widths). */
export function table(caption, headers, rows) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    h('table', {},
      h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, headers.map((label) => h('th', { scope: 'col' }, label)))),
      h('tbody', {}, rows)));
}

/** An on/off switch: a real checkbox with a visible label. */
export function toggle(label, checked, onchange) {
  const input = h('input', { type: 'checkbox', role: 'switch', checked });
  input.addEventListener('change', () => onchange(input.checked, input));
  return h('label', { class: 'switch' }, input, h('span', { class: 'switch-label' }, label));
}

/** Formats integers with thousands separators. */
export const num = (n) => Number(n ?? 0).toLocaleString();
