"""The HTML page that carries the images: each dashboard, and below it each panel with its
description and status (data, or No data with its likely cause). Side by side with --against."""

from __future__ import annotations

import datetime as dt
from html import escape

STYLE = """
body{background:#111217;color:#ccccdc;font-family:"DejaVu Sans",Verdana,sans-serif;margin:16px;font-size:14px}
h1{font-size:20px}h2{font-size:17px;margin-top:32px}a{color:#8ab8ff}
img{max-width:100%;border:1px solid #2a2d33}
.pair{display:flex;gap:12px}.pair>div{flex:1;min-width:0}
table{border-collapse:collapse;margin-top:8px;width:100%}
td,th{border-bottom:1px solid #2a2d33;padding:4px 8px;text-align:left;vertical-align:top}
th{color:#8e8e9e;font-weight:normal}td:last-child{min-width:9em}
.data{color:#73bf69}.nodata{color:#fade2a}.error{color:#f2495c}.dim{color:#8e8e9e}
"""

# Tells a headless browser (and the tests) whether every image loaded.
SCRIPT = """
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (i) { return !i.complete || i.naturalWidth === 0; });
  document.body.setAttribute('data-images', broken.length ? 'broken:' + broken.length : 'ok:' + images.length);
});
"""


def _utc(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _status(panel: dict) -> str:
    status = panel["status"]
    if status == "data":
        return f'<span class="data">data</span> <span class="dim">({panel["series"]} series)</span>'
    if status == "error":
        return f'<span class="error">query error</span>: {escape(panel["cause"])}'
    if status == "no data":
        return f'<span class="nodata">No data</span>: {escape(panel["cause"])}'
    return f'<span class="dim">{escape(status)}</span>'


def _panels(dashboard: dict) -> str:
    rows = []
    for panel in dashboard["panels"]:
        rows.append(
            f"<tr><td>{escape(panel['row'])}</td><td><b>{escape(panel['title'])}</b><br>"
            f"<span class=\"dim\">{escape(panel['description'])}</span></td>"
            f"<td>{escape(str(panel['type']))}</td><td>{_status(panel)}</td></tr>")
    collapsed = ""
    if dashboard["collapsed_rows"]:
        collapsed = (f"<p class=\"dim\">Collapsed rows left out (use --expand): "
                     f"{escape(', '.join(dashboard['collapsed_rows']))}</p>")
    return (collapsed + "<table><tr><th>Row</th><th>Panel</th><th>Type</th><th>Status</th></tr>"
            + "".join(rows) + "</table>")


def _image(dashboard: dict | None, caption: str) -> str:
    if dashboard is None:
        return f"<div><p class=\"dim\">{escape(caption)}: (none)</p></div>"
    return (f"<div><p>{escape(caption)}</p><a href=\"{escape(dashboard['image'])}\">"
            f"<img src=\"{escape(dashboard['image'])}\" width=\"{dashboard['width']}\" "
            f"alt=\"{escape(dashboard['title'])}\"></a></div>")


def page(manifest: dict) -> str:
    parts = [f"<h1>Dashboard preview</h1><p class=\"dim\">Data from {escape(manifest['prometheus_url'])}, "
             f"drawn by gen preview.</p>"]
    if manifest.get("against"):
        parts.append(f"<p>Before: <code>{escape(manifest['against'])}</code>; after: the working tree. "
                     f"Dashboards that did not change: {escape(', '.join(manifest.get('unchanged') or []) or 'none')}.</p>")
    for entry in manifest["dashboards"]:
        after, before = entry.get("after"), entry.get("before")
        main = after or before
        parts.append(f"<h2>{escape(main['title'])} <span class=\"dim\">({escape(main['env'])}, {escape(main['uid'])}, "
                     f"{_utc(main['start'])} to {_utc(main['end'])})</span></h2>")
        if manifest.get("against"):
            parts.append("<div class=\"pair\">" + _image(before, f"before ({manifest['against']})")
                         + _image(after, "after") + "</div>")
        else:
            parts.append(_image(after, main["source"]))
        parts.append(_panels(main))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Dashboard preview</title>"
            f"<style>{STYLE}</style><script>{SCRIPT}</script></head><body>\n" + "\n".join(parts)
            + "\n</body></html>\n")
