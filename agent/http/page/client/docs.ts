/**
 * The API docs page's script (`GET /docs`, routes/docs.ts): reads `/openapi.json` and lists every
 * route (method, path, summary, parameters, responses), as text only. Served without a session
 * (page/assets.ts `PUBLIC_ASSETS`), so it imports nothing.
 */
export {};

interface Operation {
  summary?: string;
  parameters?: { name: string; in: string }[];
  responses?: Record<string, unknown>;
}

function add(parent: HTMLElement, tag: string, text: string, cls?: string): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  e.textContent = text;
  parent.append(e);
  return e;
}

async function render(box: HTMLElement): Promise<void> {
  let doc: { paths?: Record<string, Record<string, Operation>> };
  try {
    const r = await fetch('/openapi.json', { credentials: 'same-origin' });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    doc = (await r.json()) as typeof doc;
  } catch (e) {
    box.textContent = `Cannot load /openapi.json: ${(e as Error).message}`;
    return;
  }
  box.textContent = '';
  const paths = doc.paths ?? {};
  for (const path of Object.keys(paths).sort()) {
    for (const [method, op] of Object.entries(paths[path]!)) {
      const h = add(box, 'h2', '');
      add(h, 'span', method.toUpperCase(), 'm');
      h.append(` ${path}`);
      add(box, 'p', op.summary ?? '');
      const params = (op.parameters ?? []).map((x) => `${x.name} (${x.in})`);
      if (params.length) add(box, 'p', `Parameters: ${params.join(', ')}`, 'muted');
      add(box, 'p', `Responses: ${Object.keys(op.responses ?? {}).join(', ')}`, 'muted');
    }
  }
}

const box = document.getElementById('ops');
if (box) void render(box);
