// dom.js: building the page from data without innerHTML (names and notes come from people,
// so they are always text), and small helpers for forms and live regions.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// A labelled field: <label for=id>text</label><input id=id ...>.
let seq = 0;
export function field(label, attrs = {}, tag = 'input') {
  const id = attrs.id || `f${++seq}`;
  const input = h(tag, { ...attrs, id });
  return { wrap: h('div', { class: 'field' }, h('label', { for: id, text: label }), input), input };
}

export function select(label, options, attrs = {}) {
  const id = attrs.id || `f${++seq}`;
  const sel = h('select', { ...attrs, id });
  for (const [value, text] of options) sel.append(h('option', { value, text }));
  return { wrap: h('div', { class: 'field' }, h('label', { for: id, text: label }), sel), input: sel };
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

// Tell screen readers (and the status line) what happened.
export function announce(text, kind = 'info') {
  const el = document.getElementById('status');
  if (!el) return;
  el.textContent = text;
  el.className = `status ${kind}`;
}

// A modal confirmation: resolves true on confirm, false on cancel or Escape. Focus goes to
// the dialog and back afterwards.
export function confirmDialog(title, lines, okText, cancelText) {
  return new Promise((resolve) => {
    const back = document.activeElement;
    const dlg = h('dialog', { class: 'confirm', 'aria-labelledby': 'dlg-title' },
      h('h2', { id: 'dlg-title', text: title }),
      h('ul', {}, lines.map((l) => h('li', { text: l }))),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', 'data-act': 'ok', text: okText }),
        h('button', { type: 'button', 'data-act': 'cancel', text: cancelText })));
    const done = (v) => { dlg.close(); dlg.remove(); if (back && back.focus) back.focus(); resolve(v); };
    dlg.addEventListener('click', (e) => {
      const a = e.target.getAttribute && e.target.getAttribute('data-act');
      if (a) done(a === 'ok');
    });
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    dlg.querySelector('[data-act=ok]').focus();
  });
}
