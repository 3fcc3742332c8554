/**
 * The live page's style sheet, served as `/assets/page.css`. Narrow screens first: sections stack,
 * device cards reflow to one column, wide tables scroll inside their own box, so nothing runs past
 * the right edge of a 390 px screen; in a device card narrower than 39em (about 585 px: the per-phase
 * table of a medium-voltage meter, 11547∠-179.9° and -12.35 MW, needs 574) the per-phase table shows
 * each phase as a block of labelled values (the cells' `data-label`) instead of a row whose last
 * columns would be cut off; cards are at least 40em wide, so a desktop shows one column of full
 * tables before two fit.
 * States carry text and a symbol as well as a colour.
 */
export const PAGE_CSS = `
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;scroll-padding-top:5em}
body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1d1d1d;background:#f6f7f8;overflow-wrap:anywhere}
a{color:#0b57a4}
.skip{position:absolute;left:-999px;top:0;background:#fff;padding:.4em}.skip:focus{left:.5em;z-index:10}
:focus-visible{outline:3px solid #0b57a4;outline-offset:2px}
button,select{font:inherit;padding:.25em .7em;border:1px solid #888;border-radius:4px;background:#fff;color:inherit;cursor:pointer;min-height:2em}
button:hover{background:#eef3f8}button[aria-pressed=true]{background:#0b57a4;color:#fff;border-color:#0b57a4}
header.top{display:flex;flex-wrap:wrap;align-items:center;gap:.3em 1em;padding:.5em 1em;background:#fff;border-bottom:1px solid #ddd;position:sticky;top:0;z-index:5}
header.top h1{font-size:1.2em;margin:0}header.top h1 small{color:#555;font-weight:normal}
header.top nav ul{display:flex;flex-wrap:wrap;gap:.2em .8em;list-style:none;margin:0;padding:0}
header.top .user{margin:0 0 0 auto}
main{padding:0 1em 1em;max-width:90em;margin:0 auto}
footer{padding:1em;text-align:center;font-size:.9em}
h2{font-size:1.1em;margin:1.3em 0 .5em;border-bottom:2px solid #ccd;padding-bottom:.2em}
h2 small{font-weight:normal;font-size:.85em}
h3{font-size:1em;margin:.2em 0 .4em}
.muted{color:#595959}
.badge,.hbadge{display:inline-block;margin:0;font-weight:bold;padding:.1em .6em;border-radius:4px;color:#fff;background:#666}
.badge.healthy,.hbadge.healthy{background:#176f2c}.badge.degraded,.hbadge.degraded{background:#a34d00}.hbadge.down{background:#8a0018}
body[data-agent=unreachable] .card,body[data-agent=unreachable] #health-body,body[data-agent=unreachable] #problems{opacity:.6;filter:grayscale(1)}
body[data-agent=unreachable] #problems::before{content:"Last known problems:";display:block;font-weight:bold;margin-left:-1.4em}
body[data-agent=unreachable] .conn{color:#8a0018;font-weight:bold}
.lastknown:empty{display:none}.lastknown{font-weight:bold;color:#444}
#static-status{display:none}
#static-status table{display:block;overflow-x:auto;max-width:100%}
#static-status .healthy,#static-status .good,#static-status .yes{color:#176f2c}#static-status .degraded,#static-status .questionable{color:#a15c00}#static-status .invalid,#static-status .no,#static-status .err{color:#b00020}
#static-status .badge.healthy,#static-status .badge.degraded{color:#fff}
.problems{background:#fdecee;border-left:4px solid #b00020;padding:.4em .6em .4em 2em;margin:.6em 0}
.conn:empty{display:none}
.q{display:inline-block;padding:0 .3em;border-radius:3px;white-space:nowrap}
.q.good{color:#176f2c}.q.questionable{background:#ffefcc;color:#6b3d00;font-weight:bold}.q.invalid{background:#fdd9dd;color:#8a0018;font-weight:bold}
.fq{font-size:.85em;margin-left:.2em}.fq:empty{display:none}
.q.stale:empty{display:none}.card.stale{border-left:4px solid #b00020}
.card.nodata{border-left:4px solid #b00020}.card p.nodata{margin:.2em 0}
#device-filter{font:inherit;padding:.25em .5em;border:1px solid #888;border-radius:4px;min-height:2em;width:min(100%,18em)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,40em),1fr));gap:.8em;align-items:start}
.card{background:#fff;border:1px solid #d8d8d8;border-radius:6px;padding:.6em .8em;min-width:0;container-type:inline-size}
.card header{display:flex;flex-wrap:wrap;justify-content:space-between;gap:.2em .6em;align-items:baseline}
.card h3{margin:0;font-size:1.05em}
.card button.pin{padding:0 .5em;min-height:1.7em;font-size:.85em}
#plots-note button{font-size:.9em;padding:0 .6em;min-height:1.7em}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;background:#fff}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}
td{font-variant-numeric:tabular-nums}th{background:#eef0f2}
td.l,th.l{text-align:left}td.r,th.r{text-align:right}
.card table{width:100%;margin:.4em 0;font-size:.9em}.card table.ph th,.card table.ph td{padding:2px 4px}
@container (max-width:39em){
.card table.ph thead{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}
.card table.ph,.card table.ph tbody{display:block}
.card table.ph tr{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:0 1em;border-top:1px solid #ddd;padding:.2em 0}
.card table.ph td{display:flex;justify-content:space-between;gap:.4em;border:0;padding:1px 0;white-space:normal}
.card table.ph td::before{content:attr(data-label);color:#444;text-align:left}
.card table.ph td:first-child{grid-column:1/-1;justify-content:flex-start;font-weight:bold}
}
dl.values{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,14em),1fr));gap:.1em 1.2em;margin:.3em 0}
dl.values div{display:flex;gap:.6em;min-width:0}
dl.values dt{color:#444;flex:0 0 auto}dl.values dd{margin:0;font-variant-numeric:tabular-nums;min-width:0}
.details dl.values{grid-template-columns:1fr}
.controls{display:flex;flex-wrap:wrap;gap:.4em;align-items:center}
.zoom{display:inline-flex;gap:.3em}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,34em),1fr));gap:.8em;margin-top:.5em}
.plot{margin:0;background:#fff;border:1px solid #d8d8d8;border-radius:6px;padding:.4em;min-width:0;overflow:hidden}
.plot .u-legend{font-size:.85em}
.hint{font-size:.85em;margin:.3em 0}
.net{background:#fff;border:1px solid #d8d8d8;border-radius:6px;padding:.4em;overflow:auto}
.net svg{display:block;margin:0 auto}
.net line{stroke:#777;stroke-width:1.5}
.net .bus circle{stroke:#222;stroke-width:1}
.net .bus text{font-size:11px;fill:#111;paint-order:stroke;stroke:#fff;stroke-width:3px}
.net .bus:focus{outline:none}.net .bus:focus circle,.net .bus.selected circle{stroke:#0b57a4;stroke-width:4}
.net .bus{cursor:pointer;pointer-events:bounding-box}
.legend{display:flex;flex-wrap:wrap;gap:.3em 1em;font-size:.9em;margin:.4em 0}
.sw{display:inline-block;width:1em;height:1em;border:1px solid #222;vertical-align:-.15em;margin-right:.3em}
.details{background:#fff;border:1px solid #d8d8d8;border-left:4px solid #0b57a4;padding:.4em .8em;margin:.5em 0}
#health h3{margin-top:1em}
.scroll td span.muted{white-space:normal;display:inline-block;min-width:16em}
.scroll td .wrap{white-space:normal;display:inline-block;min-width:14em;max-width:32em}.scroll td .wrap span.muted{display:inline;min-width:0}
details.devlist summary{cursor:pointer;white-space:nowrap}details.devlist[open] summary{margin-bottom:.2em}
.ok{color:#176f2c}.bad{color:#b00020;font-weight:bold}.warn{color:#8a4b00;font-weight:bold}
`;

/** `/assets/noscript.css`: loaded only inside `<noscript>` (no inline style): shows the server-rendered status. */
export const NOSCRIPT_CSS = 'html #static-status{display:block}html .live{display:none}\n';

/** `/assets/login.css`: the login page (auth.ts). */
export const LOGIN_CSS = `
body{font:16px/1.4 system-ui,sans-serif;margin:2rem auto;max-width:22rem;padding:0 1rem}
label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem;font:inherit;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1rem;font:inherit}button:disabled{opacity:.7}
#err{color:#a00;min-height:1.4em}
#why{background:#fff4d6;border-left:4px solid #a15c00;padding:.4rem .6rem}#why:empty{display:none}
`;

/** `/assets/docs.css`: the API docs page (routes/docs.ts). */
export const DOCS_CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:1rem;max-width:60rem}
h2{font-size:1rem;margin:1.2rem 0 .2rem;word-break:break-all}
code{background:#f2f2f2;padding:0 .2rem}
.m{display:inline-block;min-width:4rem;font-weight:bold}
.muted{color:#555}
`;
