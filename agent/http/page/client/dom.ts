/**
 * Building DOM in the browser: every text from the agent or a device goes in as a text node
 * (`textContent`), never as markup, so a name or value holding `<img onerror=...>` is shown, not run.
 */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

/** An element with attributes (`on<event>` functions become listeners) and children (strings as text). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  append(e, children);
  return e;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  setAttrs(e, attrs);
  append(e, children);
  return e;
}

function setAttrs(e: Element, attrs: Attrs): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(e: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

/** The element with this id; throws when the page has none, unless `required` is false. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T;
export function byId<T extends HTMLElement = HTMLElement>(id: string, required: false): T | null;
export function byId<T extends HTMLElement = HTMLElement>(id: string, required = true): T | null {
  const e = document.getElementById(id);
  if (!e && required) throw new Error(`the page has no #${id}`);
  return e as T | null;
}

/**
 * A table inside its own horizontally scrolling box (wide tables never widen the page), labelled
 * `label` for screen readers. Columns are left-aligned except those listed in `right` (numbers).
 */
export function scrollTable(head: string[], rows: Child[][], label: string, right: readonly number[] = []): HTMLElement {
  const cls = (k: number) => (right.includes(k) ? 'r' : 'l');
  const t = el('table', {}, el('thead', {}, el('tr', {}, ...head.map((h, k) => el('th', { class: cls(k), scope: 'col' }, h)))));
  const body = el('tbody');
  for (const r of rows) body.append(el('tr', {}, ...r.map((c, k) => el('td', { class: cls(k) }, c))));
  t.append(body);
  return el('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': label }, t);
}
