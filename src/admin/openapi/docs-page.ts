/**
 * GET /docs: one self-contained page (no CDN, no framework) that reads /openapi.json and shows
 * every route with its parameters, body fields, examples, answers and error codes.
 * The script builds the page with DOM calls, never from HTML strings.
 */
export const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>switchyard admin API</title>
<link rel="icon" href="data:,">
<style>
:root { color-scheme: light dark; --fg: #1d2430; --muted: #5d6878; --line: #d8dde5; --bg: #fff; --card: #f6f8fa; --code: #eef1f5; }
@media (prefers-color-scheme: dark) { :root { --fg: #e4e8ee; --muted: #9aa5b4; --line: #333c48; --bg: #12161c; --card: #1a2029; --code: #222a35; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); display: flex; }
nav { position: sticky; top: 0; height: 100vh; overflow: auto; width: 300px; flex: none; padding: 16px; border-right: 1px solid var(--line); font-size: 13px; }
nav a { display: block; color: inherit; text-decoration: none; padding: 2px 0; white-space: nowrap; }
nav h4 { margin: 14px 0 4px; text-transform: uppercase; color: var(--muted); font-size: 11px; letter-spacing: .05em; }
main { flex: 1; min-width: 0; padding: 16px 32px 64px; max-width: 1000px; }
section.op { border: 1px solid var(--line); border-radius: 8px; background: var(--card); padding: 12px 16px; margin: 16px 0; }
.m { display: inline-block; min-width: 52px; text-align: center; font: 600 12px/20px monospace; border-radius: 4px; color: #fff; margin-right: 6px; }
.get { background: #2f7d4f; } .put { background: #8a5a00; } .post { background: #2b5ea7; } .delete { background: #a33; }
code, pre { font: 13px/1.45 ui-monospace, monospace; background: var(--code); border-radius: 4px; }
code { padding: 1px 4px; } pre { padding: 8px 10px; overflow: auto; margin: 6px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0; }
td, th { text-align: left; vertical-align: top; border-bottom: 1px solid var(--line); padding: 4px 6px; }
th { color: var(--muted); font-weight: 600; }
h1 { margin: 8px 0; } h2 { margin-top: 40px; border-bottom: 1px solid var(--line); }
h3 { margin: 6px 0; font-size: 16px; } h5 { margin: 12px 0 2px; font-size: 13px; color: var(--muted); }
.muted { color: var(--muted); } .lock { font-size: 12px; color: var(--muted); margin-left: 8px; }
p { margin: 6px 0; white-space: pre-line; } td p { margin: 0; } pre.wrap { white-space: pre-wrap; word-break: break-all; }
</style>
</head>
<body>
<nav id="nav"><strong>switchyard admin API</strong> <a href="openapi.json">openapi.json</a></nav>
<main id="main"><p class="muted">Loading openapi.json ...</p></main>
<script>
(function () {
  'use strict';
  function h(tag, attrs) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    function add(c) {
      if (c === null || c === undefined || c === false) return;
      if (Array.isArray(c)) c.forEach(add);
      else el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
    for (var i = 2; i < arguments.length; i++) add(arguments[i]);
    return el;
  }
  function text(s) {
    // Inline code spans of the descriptions, as <code>; the rest as text.
    var p = h('p', {});
    String(s || '').split('\\u0060').forEach(function (part, i) { p.appendChild(i % 2 ? h('code', {}, part) : document.createTextNode(part)); });
    return p;
  }
  function json(v) { return h('pre', {}, typeof v === 'string' ? v : JSON.stringify(v, null, 2)); }
  function typeOf(s) {
    if (!s || typeof s !== 'object' || Object.keys(s).length === 0) return 'any';
    if ('const' in s) return JSON.stringify(s.const);
    if (s.enum) return s.enum.map(function (v) { return JSON.stringify(v); }).join(' | ');
    var u = s.anyOf || s.oneOf;
    if (u) return u.map(typeOf).join(' | ');
    var t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type || 'any');
    if (t === 'array') t = typeOf(s.items) + '[]';
    var limits = [];
    if (s.minimum !== undefined || s.maximum !== undefined) limits.push((s.minimum === undefined ? '' : s.minimum) + '..' + (s.maximum === undefined ? '' : s.maximum));
    if (s.minLength) limits.push('min ' + s.minLength + ' chars');
    if (s.maxLength) limits.push('max ' + s.maxLength + ' chars');
    if (s.minItems) limits.push('min ' + s.minItems);
    if (s.maxItems) limits.push('max ' + s.maxItems);
    if (s.pattern) limits.push('/' + s.pattern + '/');
    if (s.format) limits.push(s.format);
    return t + (limits.length ? ' (' + limits.join(', ') + ')' : '');
  }
  function objectOf(s) {
    if (!s) return null;
    if (s.properties) return s;
    if (s.type === 'array' && s.items) return objectOf(s.items);
    var u = (s.anyOf || s.oneOf || []).map(objectOf).filter(Boolean);
    return u.length === 1 ? u[0] : null;
  }
  function rows(s, prefix, out) {
    var o = objectOf(s);
    if (!o) return out;
    var required = o.required || [];
    Object.keys(o.properties).forEach(function (name) {
      var p = o.properties[name];
      out.push(h('tr', {}, h('td', {}, h('code', {}, prefix + name)), h('td', {}, typeOf(p)),
        h('td', {}, required.indexOf(name) >= 0 ? 'yes' : ''), h('td', {}, text(p.description))));
      rows(p, prefix + name + (p.type === 'array' ? '[].' : '.'), out);
    });
    return out;
  }
  function fields(s) {
    var r = rows(s, '', []);
    if (!r.length) return h('p', {}, h('code', {}, typeOf(s)));
    return h('table', {}, h('tr', {}, h('th', {}, 'field'), h('th', {}, 'type'), h('th', {}, 'required'), h('th', {}, '')), r);
  }
  function examples(media) {
    var out = h('div', {});
    if (media.example !== undefined) out.appendChild(json(media.example));
    Object.keys(media.examples || {}).forEach(function (name) {
      var e = media.examples[name];
      out.appendChild(h('div', { class: 'muted' }, e.summary || name));
      out.appendChild(json(e.value));
    });
    return out;
  }
  function firstMedia(content) { var k = Object.keys(content || {})[0]; return k ? content[k] : null; }
  function curl(method, path, op) {
    var line = "curl -s -X " + method.toUpperCase() + " \\"" + location.origin + path + "\\"";
    if (op.security) line += " -H \\"Authorization: Bearer $SWITCHYARD_ADMIN_TOKEN\\"";
    var media = op.requestBody && firstMedia(op.requestBody.content);
    var ex = media && (media.example !== undefined ? media.example : (media.examples && media.examples[Object.keys(media.examples)[0]].value));
    if (ex !== undefined && ex !== null) line += " -H 'content-type: application/json' -d '" + JSON.stringify(ex) + "'";
    return h('pre', { class: 'wrap' }, line);
  }
  function operation(path, method, op) {
    var id = op.operationId || (method + path);
    var sec = h('section', { class: 'op', id: id },
      h('div', {}, h('span', { class: 'm ' + method }, method.toUpperCase()), h('code', {}, path),
        op.security ? h('span', { class: 'lock' }, 'bearer token') : h('span', { class: 'lock' }, 'no token')),
      h('h3', {}, op.summary || ''), text(op.description));
    var params = op.parameters || [];
    if (params.length) {
      sec.appendChild(h('h5', {}, 'Parameters'));
      sec.appendChild(h('table', {}, h('tr', {}, h('th', {}, 'name'), h('th', {}, 'in'), h('th', {}, 'type'), h('th', {}, 'required'), h('th', {}, '')),
        params.map(function (p) { return h('tr', {}, h('td', {}, h('code', {}, p.name)), h('td', {}, p.in), h('td', {}, typeOf(p.schema)), h('td', {}, p.required ? 'yes' : ''), h('td', {}, text(p.description))); })));
    }
    if (op.requestBody) {
      var media = firstMedia(op.requestBody.content);
      sec.appendChild(h('h5', {}, 'Request body ' + (op.requestBody.required ? '(required)' : '(optional)')));
      if (media) { sec.appendChild(fields(media.schema)); sec.appendChild(examples(media)); }
    }
    sec.appendChild(h('h5', {}, 'Example'));
    sec.appendChild(curl(method, path, op));
    sec.appendChild(h('h5', {}, 'Answers'));
    var refusals = (op['x-error-codes'] || []).slice().sort(function (a, b) { return a.status - b.status; }).map(function (e) {
      return h('tr', {}, h('td', {}, String(e.status)), h('td', {}, h('code', {}, e.code)), h('td', {}, text(e.summary)));
    });
    Object.keys(op.responses || {}).forEach(function (status) {
      var r = op.responses[status];
      var m = firstMedia(r.content);
      if (Number(status) >= 400 && op['x-error-codes']) return;
      sec.appendChild(h('div', {}, h('strong', {}, status + ' '), r.description));
      if (m) { sec.appendChild(h('details', {}, h('summary', {}, 'fields'), fields(m.schema))); sec.appendChild(examples(m)); }
    });
    if (refusals.length) {
      sec.appendChild(h('h5', {}, 'Refusals ({statusCode, error, message, code}; nothing changed)'));
      sec.appendChild(h('table', {}, h('tr', {}, h('th', {}, 'status'), h('th', {}, 'code'), h('th', {}, 'when')), refusals));
    }
    return sec;
  }
  function render(doc) {
    var main = document.getElementById('main'), nav = document.getElementById('nav');
    main.textContent = '';
    main.appendChild(h('h1', {}, doc.info.title + ' ', h('span', { class: 'muted' }, doc.info.version)));
    main.appendChild(text(doc.info.description));
    var byTag = {};
    Object.keys(doc.paths).forEach(function (path) {
      Object.keys(doc.paths[path]).forEach(function (method) {
        var op = doc.paths[path][method];
        var tag = (op.tags && op.tags[0]) || 'other';
        (byTag[tag] = byTag[tag] || []).push([path, method, op]);
      });
    });
    var tags = (doc.tags || []).map(function (t) { return t.name; });
    Object.keys(byTag).forEach(function (t) { if (tags.indexOf(t) < 0) tags.push(t); });
    tags.filter(function (t) { return byTag[t]; }).forEach(function (tag) {
      var info = (doc.tags || []).filter(function (t) { return t.name === tag; })[0];
      main.appendChild(h('h2', { id: 'tag-' + tag }, tag));
      if (info) main.appendChild(text(info.description));
      nav.appendChild(h('h4', {}, tag));
      byTag[tag].forEach(function (o) {
        var sec = operation(o[0], o[1], o[2]);
        main.appendChild(sec);
        nav.appendChild(h('a', { href: '#' + sec.id }, h('span', { class: 'm ' + o[1] }, o[1].toUpperCase()), o[0]));
      });
    });
  }
  fetch('openapi.json').then(function (r) { return r.json(); }).then(function (doc) {
    render(doc);
    var target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) target.scrollIntoView();
  }, function (err) {
    document.getElementById('main').textContent = 'Could not load openapi.json: ' + err;
  });
})();
</script>
</body>
</html>
`
