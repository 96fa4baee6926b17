// validate.mjs SPEC REPLIES.jsonl: check each reply the e2e suite recorded
// (tests/e2e/test_spec_replies.c: one JSON object a line with method, route, path, status,
// content_type, and json, the parsed body, or text) against the OpenAPI 3.1 document SPEC:
// the route must be an operation of SPEC, the status one of its responses (or nXX, or
// default), the media type one of that response's content types (none when the body is
// empty), and a JSON body valid against its schema (JSON Schema 2020-12, with Ajv); and a
// JSON request the server accepted (2xx; "request" in the line) valid against the
// operation's requestBody schema. Prints
// every mismatch, once per route, status and problem, and exits 1 when there is one.
import fs from 'node:fs';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const [specPath, repliesPath] = process.argv.slice(2);
if (!specPath || !repliesPath) {
  console.error('usage: node validate.mjs api/openapi.yaml replies.jsonl');
  process.exit(2);
}
const spec = YAML.parse(fs.readFileSync(specPath, 'utf8'));
const BASE = 'https://wattle.invalid/schemas/';

// Every "#/components/schemas/X" becomes an absolute reference to the schema X, added to Ajv
// under that id, so that a response's inline schema compiles on its own.
function rebase(node) {
  if (Array.isArray(node)) return node.map(rebase);
  if (node && typeof node === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/'))
        out[k] = BASE + v.slice('#/components/schemas/'.length);
      else out[k] = rebase(v);
    }
    return out;
  }
  return node;
}
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats(ajv);
for (const [name, schema] of Object.entries(spec.components?.schemas ?? {}))
  ajv.addSchema({ ...rebase(schema), $id: BASE + name });

function deref(obj) {
  let seen = 0;
  while (obj && obj.$ref) {
    const parts = obj.$ref.replace(/^#\//, '').split('/').map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    obj = parts.reduce((o, p) => (o ? o[p] : undefined), spec);
    if (++seen > 10) return undefined;
  }
  return obj;
}

const compiled = new Map();
function validator(key, schema) {
  if (!compiled.has(key)) compiled.set(key, ajv.compile(rebase(schema)));
  return compiled.get(key);
}

const problems = new Map(); // "METHOD route status: problem" -> count
const note = (rec, what) => {
  const k = `${rec.method} ${rec.route} ${rec.status} (${rec.path}): ${what}`;
  problems.set(k, (problems.get(k) ?? 0) + 1);
};

const lines = fs.readFileSync(repliesPath, 'utf8').split('\n').filter((l) => l.trim());
for (const line of lines) {
  const rec = JSON.parse(line);
  const op = spec.paths?.[rec.route]?.[rec.method.toLowerCase()];
  if (!op) {
    note(rec, 'no such operation in the spec');
    continue;
  }
  const s = String(rec.status);
  if (rec.status >= 200 && rec.status < 300 && 'request' in rec) {
    const rb = deref(op.requestBody);
    const schema = rb?.content?.['application/json']?.schema;
    if (!schema) note(rec, 'the server took a JSON body the spec has no requestBody schema for');
    else {
      const v = validator(`request ${rec.method} ${rec.route}`, schema);
      if (!v(rec.request))
        for (const e of v.errors.slice(0, 8))
          note(rec, `request ${e.instancePath || '/'} ${e.message}${e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : ''}`);
    }
  }
  const resp = deref(op.responses?.[s] ?? op.responses?.[`${s[0]}XX`] ?? op.responses?.default);
  if (!resp) {
    note(rec, `status ${s} is not documented`);
    continue;
  }
  const media = (rec.content_type || '').split(';')[0].trim().toLowerCase();
  const content = resp.content ?? {};
  if (!Object.keys(content).length) {
    if (rec.body_len > 0) note(rec, `a body (${media}) where the spec documents none`);
    continue;
  }
  const mt = content[media];
  if (!mt) {
    note(rec, `media type "${media}" is not among ${Object.keys(content).join(', ')}`);
    continue;
  }
  if (!mt.schema) {
    note(rec, 'the media type has no schema');
    continue;
  }
  if (media === 'application/json' || media.endsWith('+json')) {
    if (!('json' in rec)) {
      note(rec, 'the body is not JSON');
      continue;
    }
    const v = validator(`${rec.method} ${rec.route} ${s} ${media}`, mt.schema);
    if (!v(rec.json)) {
      for (const e of v.errors.slice(0, 8))
        note(rec, `${e.instancePath || '/'} ${e.message}${e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : ''}`);
    }
  } else if ('text' in rec) {
    const v = validator(`${rec.method} ${rec.route} ${s} ${media}`, mt.schema);
    if (!v(rec.text)) note(rec, `the ${media} body: ${ajv.errorsText(v.errors)}`);
  }
}

if (problems.size) {
  console.log(`validate.mjs: ${problems.size} mismatches between the replies and ${specPath}:`);
  for (const [k, n] of problems) console.log(`  ${k}${n > 1 ? ` (x${n})` : ''}`);
  process.exit(1);
}
console.log(`validate.mjs: ${lines.length} replies, all as ${specPath} says`);
