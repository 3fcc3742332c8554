/**
 * The live page (`GET /`): an HTML shell whose sections the page's ES modules (client/) fill and
 * keep up to date from the API and the event stream. The shell itself carries only the gateway id,
 * the logged-in user (when accounts are configured) and links; every interpolated value goes
 * through the escaping `html` template. Without JavaScript it points to the server-rendered status
 * page (`/status`).
 */
import { html } from './html.js';

export interface LivePageInfo {
  gateway: string;
  version: string;
  /** The logged-in user, when accounts are configured. */
  user?: { username: string; role: string };
}

/** The page's Content-Security-Policy: scripts and connections to this server only, no plugins, no framing. */
export const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

export function renderLivePage(p: LivePageInfo): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gridedge ${p.gateway}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/uplot/uPlot.min.css">
<link rel="stylesheet" href="/assets/page.css">
<script defer src="/assets/uplot/uPlot.min.js"></script>
<script type="module" src="/assets/js/agent/http/page/client/main.js"></script>
</head>
<body data-gateway="${p.gateway}" data-role="${p.user?.role ?? ''}">
<a class="skip" href="#main">Skip to the content</a>
<header class="top">
<h1>gridedge <small>${p.gateway}</small></h1>
<p id="health-badge" class="badge unknown" role="status" aria-live="polite">loading…</p>
<nav aria-label="Sections"><ul>
<li><a href="#devices">Devices</a></li><li><a href="#plots">Plots</a></li><li><a href="#network">Network</a></li><li><a href="#schedules">Schedules</a></li><li><a href="#health">Health</a></li>
</ul></nav>
${p.user ? html`<p class="user">${p.user.username} <span class="muted">(${p.user.role})</span> <button type="button" id="logout">Log out</button></p>` : ''}
</header>
<main id="main">
<noscript><p class="problems">This page needs JavaScript. <a href="/status">The plain status page</a> works without it.</p></noscript>
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
</main>
<footer class="muted">version ${p.version} · JSON: <a href="/api/v1/status">/api/v1/status</a> · <a href="/docs">API</a> · <a href="/metrics">/metrics</a> · <a href="/status">plain status page</a></footer>
</body></html>
`.text;
}
