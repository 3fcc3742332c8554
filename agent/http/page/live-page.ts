/**
 * The live page (`GET /`): an HTML shell whose sections the page's ES modules (client/) fill and
 * keep up to date from the API and the event stream. The shell itself carries only the gateway id,
 * the logged-in user (when accounts are configured), links, and the server-rendered status sections
 * (status-page.ts) in `#static-status`: hidden by the style sheet, shown (with a 5 s refresh) only
 * to a browser that runs no script (`/assets/noscript.css`, loaded inside `<noscript>`). Every
 * interpolated value goes through the escaping `html` template. No inline script or style: the page
 * is served with the Content-Security-Policy of every HTML page (security-headers.ts).
 */
import type { AgentStatus } from '../../core/status-types.js';
import { html } from './html.js';
import { renderStatusSections } from './status-page.js';

export interface LivePageInfo {
  status: AgentStatus;
  /** The logged-in user, when accounts are configured. */
  user?: { username: string; role: string };
}


export function renderLivePage(p: LivePageInfo, nowMs = Date.now()): string {
  const s = p.status;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gridedge ${s.gateway}: ${s.health}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/uplot/uPlot.min.css">
<link rel="stylesheet" href="/assets/page.css">
<noscript><meta http-equiv="refresh" content="5"><link rel="stylesheet" href="/assets/noscript.css"></noscript>
<script defer src="/assets/uplot/uPlot.min.js"></script>
<script type="module" src="/assets/js/agent/http/page/client/main.js"></script>
</head>
<body data-gateway="${s.gateway}" data-role="${p.user?.role ?? ''}">
<a class="skip" href="#main">Skip to the content</a>
<header class="top">
<h1>gridedge <small>${s.gateway}</small></h1>
<p id="health-badge" class="hbadge ${s.health}" role="status" aria-live="polite">${s.health}</p>
<nav aria-label="Sections" class="live"><ul>
<li><a href="#devices">Devices</a></li><li><a href="#plots">Plots</a></li><li><a href="#network">Network</a></li><li><a href="#schedules">Schedules</a></li><li><a href="#health">Health</a></li>
</ul></nav>
${p.user ? html`<p class="user">${p.user.username} <span class="muted">(${p.user.role})</span> <button type="button" id="logout">Log out</button></p>` : ''}
</header>
<main id="main">
<div id="static-status">
<p class="muted">Without JavaScript this page shows the status below and reloads it every 5 s; plots, the network and live updates need JavaScript.</p>
${renderStatusSections(s, nowMs)}
</div>
<div class="live">
<p id="conn" class="conn muted" role="status" aria-live="polite"></p>
<ul id="problems" class="problems" hidden></ul>
<section id="devices" aria-labelledby="h-devices"><h2 id="h-devices">Devices</h2>
<div id="devices-body" class="cards"><p class="muted">Loading…</p></div></section>
<section id="plots" aria-labelledby="h-plots"><h2 id="h-plots">Plots <small class="muted">(last hour)</small></h2>
<div class="controls"><label for="plot-field">Field</label> <select id="plot-field"></select>
<span class="zoom" role="group" aria-label="Time range"><button type="button" data-range="3600">1 h</button><button type="button" data-range="600">10 min</button><button type="button" data-range="60">1 min</button></span></div>
<p class="muted hint">Drag across a plot to zoom in; double-click it or pick a time range to zoom out.</p>
<div id="plots-body" class="plots"></div></section>
<section id="network" aria-labelledby="h-network"><h2 id="h-network">Network</h2>
<div id="network-body"><p class="muted">Loading…</p></div></section>
<section id="schedules" aria-labelledby="h-schedules"><h2 id="h-schedules">Schedules</h2>
<div id="schedules-body"><p class="muted">Loading…</p></div></section>
<section id="health" aria-labelledby="h-health"><h2 id="h-health">Health</h2>
<div id="health-body"><p class="muted">Loading…</p></div></section>
</div>
</main>
<footer class="muted">version ${s.version} · JSON: <a href="/api/v1/status">/api/v1/status</a> · <a href="/docs">API</a> · <a href="/metrics">/metrics</a></footer>
</body></html>
`.text;
}
