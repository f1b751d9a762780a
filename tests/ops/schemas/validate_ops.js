#!/usr/bin/env node
// ctest `ops_schemas` (run by ../check_ops_schemas.sh): validates the operations files against
// the schemas of the tools that will read them, and first proves that each validator rejects
// broken copies of those same files, so that no check can pass by validating nothing.
//
//   node validate_ops.js --modules DIR [--k8s NAME=FILE]... [--compose FILE] [--dockerfile FILE]
//
// - Kubernetes objects (kubectl kustomize output, and the Secret template): each object's
//   apiVersion and kind pick a model class of kubernetes-models (the Kubernetes OpenAPI schemas),
//   @kubernetes-models/keda (KEDA's CRDs) or @kubernetes-models/prometheus-operator (its CRDs);
//   a kind none of them knows is an error. The models check types, enums, formats and required
//   fields but allow unknown fields (the OpenAPI schemas do not close objects); the API server
//   rejects those (kubectl's strict field validation), so they are errors here too: a field is
//   unknown when the model's validator inspects named fields of its object but never that one.
//   Names and label values are checked as the API server checks them.
// - docker/compose.yaml against the Compose Specification's JSON schema (draft 2019-09) as the
//   npm package dclint ships it; only that JSON file is used, not dclint's code, which is why
//   dclint's engines (npm 10) do not matter on Debian 12's npm 9.
// - docker/Dockerfile with dockerfile-utils' validator (the one of VS Code's Docker language
//   server), every rule set to error: any diagnostic fails.
// Prints one line per input and per failure; exits 1 if anything failed.
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const args = { k8s: [], compose: null, dockerfile: null, modules: null };
for (let i = 2; i < process.argv.length; i += 2) {
  const [flag, value] = [process.argv[i], process.argv[i + 1]];
  if (value === undefined) usage(`${flag} needs a value`);
  if (flag === '--k8s') args.k8s.push(value);
  else if (flag === '--compose') args.compose = value;
  else if (flag === '--dockerfile') args.dockerfile = value;
  else if (flag === '--modules') args.modules = value;
  else usage(`unknown argument ${flag}`);
}
if (!args.modules) usage('--modules is required');

function usage(message) {
  console.error(`validate_ops.js: ${message}\nusage: node validate_ops.js --modules DIR [--k8s NAME=FILE]... [--compose FILE] [--dockerfile FILE]`);
  process.exit(2);
}

// The packages are installed by check_ops_schemas.sh in a folder of its own, not beside this file.
const load = createRequire(path.join(path.resolve(args.modules), 'package.json'));
const YAML = load('yaml');

let failures = 0;
function fail(message) {
  failures += 1;
  console.log(`FAIL: ${message}`);
}

const clone = (value) => JSON.parse(JSON.stringify(value));

// ------------------------------------------------------------------------------- Kubernetes

const MODEL_PACKAGES = ['kubernetes-models', '@kubernetes-models/keda', '@kubernetes-models/prometheus-operator'];
const API_VERSION = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?v[0-9]+((alpha|beta)[0-9]+)?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function modelFor(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || !API_VERSION.test(apiVersion) || typeof kind !== 'string') return null;
  for (const pkg of MODEL_PACKAGES) {
    let group;
    try {
      group = load(`${pkg}/${apiVersion}`);
    } catch (e) {
      // This package has no such group/version (packages with an exports map say so differently).
      if (e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' || (e.code === 'MODULE_NOT_FOUND' && e.message.includes(`'${pkg}/${apiVersion}'`))) continue;
      throw e;
    }
    const model = Object.prototype.hasOwnProperty.call(group, kind) ? group[kind] : null;
    if (typeof model === 'function' && model.kind === kind && model.apiVersion === apiVersion) return model;
  }
  return null;
}

// Runs the model's validator over a proxy of the object that records, per object, which fields
// the validator read. Objects whose fields it enumerated (maps such as labels) or never looked
// into (free-form values) are left alone; in the others, a field it never read is unknown.
function unknownFields(model, object) {
  const seen = new Map();
  const proxies = new WeakMap();
  const wrap = (target, where) => {
    if (target === null || typeof target !== 'object') return target;
    if (proxies.has(target)) return proxies.get(target);
    seen.set(target, { where, read: new Set(), enumerated: false });
    const note = (t, key) => { if (typeof key === 'string') seen.get(t).read.add(key); };
    const proxy = new Proxy(target, {
      get(t, key, receiver) {
        note(t, key);
        const value = Reflect.get(t, key, receiver);
        return typeof key === 'string' && Object.prototype.hasOwnProperty.call(t, key) ? wrap(value, `${where}/${key}`) : value;
      },
      has(t, key) { note(t, key); return Reflect.has(t, key); },
      getOwnPropertyDescriptor(t, key) { note(t, key); return Reflect.getOwnPropertyDescriptor(t, key); },
      ownKeys(t) { seen.get(t).enumerated = true; return Reflect.ownKeys(t); },
    });
    proxies.set(target, proxy);
    return proxy;
  };
  let error = null;
  try {
    model.prototype.validate.call(wrap(object, ''));
  } catch (e) {
    error = e;
  }
  const unknown = [];
  for (const [target, { where, read, enumerated }] of seen) {
    if (Array.isArray(target) || enumerated || read.size === 0) continue;
    for (const key of Object.keys(target)) {
      if (!read.has(key)) unknown.push(`${where}/${key}: unknown field`);
    }
  }
  return { error, unknown };
}

function metadataProblems(object) {
  const problems = [];
  const meta = object.metadata || {};
  if (typeof meta.name !== 'string' || meta.name.length > 253 || !DNS_SUBDOMAIN.test(meta.name)) {
    problems.push(`metadata.name ${JSON.stringify(meta.name)} is not a DNS subdomain (lower case, digits, '-', '.')`);
  }
  const labelSets = [['metadata.labels', meta.labels]];
  const template = object.spec && object.spec.template && object.spec.template.metadata;
  if (template) labelSets.push(['spec.template.metadata.labels', template.labels]);
  for (const [where, labels] of labelSets) {
    for (const [key, value] of Object.entries(labels || {})) {
      if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) {
        problems.push(`${where}.${key}: ${JSON.stringify(value)} is not a valid label value`);
      }
    }
  }
  return problems;
}

// Every problem of one object, as strings; none means valid.
function k8sProblems(object) {
  if (object === null || typeof object !== 'object' || Array.isArray(object)) return ['not an object'];
  const model = modelFor(object.apiVersion, object.kind);
  if (!model) {
    return [`no schema for apiVersion ${JSON.stringify(object.apiVersion)} kind ${JSON.stringify(object.kind)}: ` +
      'not a kind of Kubernetes, KEDA or the prometheus-operator (misspelt, or a CRD tests/ops has no model of)'];
  }
  const { error, unknown } = unknownFields(model, clone(object));
  const problems = [];
  if (error) problems.push(...String(error.message).split(', '));
  problems.push(...unknown, ...metadataProblems(object));
  return problems;
}

function readYamlDocuments(file) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'), { merge: true });
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
  }
  return docs.map((d) => d.toJS({ maxAliasCount: -1 })).filter((d) => d !== null && d !== undefined);
}

function validateK8s(name, objects) {
  const kinds = {};
  for (const object of objects) {
    const id = `${object.kind || '?'} ${(object.metadata && object.metadata.name) || '?'}`;
    const problems = k8sProblems(object);
    for (const p of problems) fail(`k8s ${name}: ${id}: ${p}`);
    kinds[object.kind] = (kinds[object.kind] || 0) + 1;
  }
  const summary = Object.keys(kinds).sort().map((k) => `${k} ${kinds[k]}`).join(', ');
  console.log(`k8s ${name}: ${objects.length} objects checked against their schemas (${summary})`);
}

// Broken copies of rendered objects, each with the problem it must be rejected for.
const K8S_BROKEN = [
  ['Deployment', 'replicas "two"', (o) => { o.spec.replicas = 'two'; }, /\/spec\/replicas must be integer/],
  ['Deployment', 'a misspelt container field', (o) => { o.spec.template.spec.containers[0].livenessprobe = {}; },
    /containers\/0\/livenessprobe: unknown field/],
  ['Deployment', 'a misspelt kind', (o) => { o.kind = 'Deploymnet'; }, /no schema for apiVersion "apps\/v1" kind "Deploymnet"/],
  ['Deployment', 'a probe period as a string', (o) => { o.spec.template.spec.containers[0].readinessProbe.periodSeconds = '10s'; },
    /readinessProbe\/periodSeconds must be integer/],
  ['Deployment', 'a label value with a space', (o) => { o.spec.template.metadata.labels.extra = 'two words'; },
    /spec\.template\.metadata\.labels\.extra: "two words" is not a valid label value/],
  ['Service', 'no name', (o) => { delete o.metadata.name; }, /metadata\.name undefined is not a DNS subdomain/],
  ['Service', 'a port as a list', (o) => { o.spec.ports[0].port = [9464]; }, /\/spec\/ports\/0\/port must be integer/],
  ['ConfigMap', 'a value that is not a string', (o) => { o.data[Object.keys(o.data)[0]] = 5; }, /\/data\/[^ ]+ must be string/],
  ['NetworkPolicy', 'ingress as an object', (o) => { o.spec.ingress = o.spec.ingress[0]; }, /\/spec\/ingress must be array/],
  ['PodDisruptionBudget', 'maxUnavailable true', (o) => { o.spec.maxUnavailable = true; }, /\/spec\/maxUnavailable/],
  ['ScaledObject', 'maxReplicaCount "12"', (o) => { o.spec.maxReplicaCount = String(o.spec.maxReplicaCount); },
    /\/spec\/maxReplicaCount must be integer/],
  ['ScaledObject', 'an unknown field', (o) => { o.spec.maxReplicas = 3; }, /\/spec\/maxReplicas: unknown field/],
  ['ScaledObject', 'a trigger setting as a number', (o) => { o.spec.triggers[0].metadata.lagThreshold = 2; },
    /\/spec\/triggers\/0\/metadata\/lagThreshold must be string/],
  ['ServiceMonitor', 'endpoints as an object', (o) => { o.spec.endpoints = o.spec.endpoints[0]; }, /\/spec\/endpoints must be array/],
  ['ServiceMonitor', 'a misspelt endpoint field', (o) => { o.spec.endpoints[0].intervall = '15s'; },
    /\/spec\/endpoints\/0\/intervall: unknown field/],
  ['PrometheusRule', 'a rule without expr', (o) => { delete o.spec.groups[0].rules[0].expr; },
    /\/spec\/groups\/0\/rules\/0 must have required property '?expr'?/],
];

function negativeK8s(objects) {
  let rejected = 0;
  for (const [kind, what, breakIt, expected] of K8S_BROKEN) {
    const original = objects.find((o) => o && o.kind === kind);
    if (!original) {
      fail(`negative check "${kind} with ${what}": no ${kind} was rendered to break`);
      continue;
    }
    if (k8sProblems(original).length) continue; // reported by the positive check
    const broken = clone(original);
    breakIt(broken);
    const problems = k8sProblems(broken);
    if (!problems.some((p) => expected.test(p))) {
      fail(`negative check: a ${kind} with ${what} was not rejected as expected (${expected}); problems found: ` +
        `${JSON.stringify(problems)}`);
    } else {
      rejected += 1;
    }
  }
  return rejected;
}

// ---------------------------------------------------------------------------------- Compose

// The schema still carries draft-04 `id`s (names only, never referenced), which Ajv refuses.
function withoutIds(schema) {
  if (Array.isArray(schema)) return schema.map(withoutIds);
  if (schema === null || typeof schema !== 'object') return schema;
  const out = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'id' && typeof value === 'string') continue;
    if (['properties', 'patternProperties', 'definitions', '$defs'].includes(key)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutIds(v)]));
    } else {
      out[key] = withoutIds(value);
    }
  }
  return out;
}

function composeValidator() {
  const Ajv2019 = load('ajv/dist/2019').default;
  const schema = JSON.parse(fs.readFileSync(load.resolve('dclint/schemas/compose.schema.json'), 'utf8'));
  const ajv = new Ajv2019({ allErrors: true, strict: false, allowUnionTypes: true });
  // The one custom format: an exposed port or range, optionally with a protocol.
  ajv.addFormat('expose', (v) => /^\d+(-\d+)?(\/[a-z]+)?$/.test(String(v)));
  const validate = ajv.compile(withoutIds(schema));
  return (document) => (validate(document) ? [] : validate.errors.map((e) => `${e.instancePath || '/'} ${e.message}` +
    (e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : '') +
    (e.params && e.params.allowedValues ? ` (${e.params.allowedValues.join(', ')})` : '')));
}

const COMPOSE_BROKEN = [
  ['an unknown service key', (c) => { c.services.planner.restart_policy = 'always'; }, /\/services\/planner must NOT have additional properties \(restart_policy\)/],
  ['ports as a number', (c) => { c.services.planner.ports = 8080; }, /\/services\/planner\/ports must be array/],
  ['an unknown top-level key', (c) => { c.service = {}; }, /^\/ must NOT have additional properties \(service\)/],
  ['a depends_on condition that does not exist', (c) => { c.services.planner.depends_on.kafka.condition = 'service_ready'; },
    /\/services\/planner\/depends_on\/kafka\/condition must be equal to one of the allowed values/],
];

function checkCompose(file) {
  const [compose] = readYamlDocuments(file);
  const validate = composeValidator();
  let rejected = 0;
  for (const [what, breakIt, expected] of COMPOSE_BROKEN) {
    const broken = clone(compose);
    breakIt(broken);
    const problems = validate(broken);
    if (!problems.some((p) => expected.test(p))) {
      fail(`negative check: a compose file with ${what} was not rejected as expected (${expected}); problems found: ${JSON.stringify(problems)}`);
    } else {
      rejected += 1;
    }
  }
  const problems = validate(compose);
  for (const p of problems) fail(`${file}: ${p}`);
  console.log(`compose ${path.basename(file)}: ${Object.keys(compose.services || {}).length} services checked against the Compose Specification schema`);
  return rejected;
}

// ------------------------------------------------------------------------------- Dockerfile

function dockerfileLinter() {
  const utils = load('dockerfile-utils');
  const error = utils.ValidationSeverity.ERROR;
  const settings = {
    deprecatedMaintainer: error,
    directiveCasing: error,
    emptyContinuationLine: error,
    instructionCasing: error,
    instructionCmdMultiple: error,
    instructionEntrypointMultiple: error,
    instructionHealthcheckMultiple: error,
    instructionJSONInSingleQuotes: error,
    instructionWorkdirRelative: error,
  };
  return (text) => utils.validate(text, settings).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
}

const DOCKERFILE_BROKEN = [
  ['a misspelt instruction', (t) => t.replace(/^RUN /m, 'RUNN '), /Unknown instruction: RUNN/],
  ['a port that is not a number', (t) => t.replace(/^EXPOSE .*$/m, 'EXPOSE metrics'), /Invalid containerPort: metrics/],
  ['a COPY without a destination', (t) => t.replace(/^COPY (\S+) \S+$/m, 'COPY $1'), /COPY requires at least two arguments/],
  ['a deprecated MAINTAINER (a warning, made an error)', (t) => t.replace(/^FROM (.*)$/m, 'FROM $1\nMAINTAINER ops'),
    /MAINTAINER has been deprecated/],
  ['a relative WORKDIR (a warning, made an error)', (t) => t.replace(/^WORKDIR .*$/m, 'WORKDIR src'), /WORKDIR paths should be absolute/],
];

function checkDockerfile(file) {
  const text = fs.readFileSync(file, 'utf8');
  const lint = dockerfileLinter();
  let rejected = 0;
  for (const [what, breakIt, expected] of DOCKERFILE_BROKEN) {
    const broken = breakIt(text);
    const problems = broken === text ? ['(the Dockerfile has nothing to break this way)'] : lint(broken);
    if (!problems.some((p) => expected.test(p))) {
      fail(`negative check: a Dockerfile with ${what} was not rejected as expected (${expected}); problems found: ${JSON.stringify(problems)}`);
    } else {
      rejected += 1;
    }
  }
  for (const p of lint(text)) fail(`${file}: ${p}`);
  console.log(`Dockerfile ${path.basename(file)}: linted, every dockerfile-utils rule an error`);
  return rejected;
}

// ------------------------------------------------------------------------------------ main

const rendered = [];
for (const spec of args.k8s) {
  const at = spec.indexOf('=');
  if (at < 1) usage(`--k8s takes NAME=FILE, not ${spec}`);
  const objects = readYamlDocuments(spec.slice(at + 1));
  validateK8s(spec.slice(0, at), objects);
  rendered.push(...objects);
}
const negatives = [];
if (args.k8s.length) negatives.push(`${negativeK8s(rendered)}/${K8S_BROKEN.length} broken Kubernetes objects`);
if (args.compose) negatives.push(`${checkCompose(args.compose)}/${COMPOSE_BROKEN.length} broken compose files`);
if (args.dockerfile) negatives.push(`${checkDockerfile(args.dockerfile)}/${DOCKERFILE_BROKEN.length} broken Dockerfiles`);
console.log(`negative checks: rejected ${negatives.join(', ')}`);
if (failures) {
  console.log(`${failures} problem(s) found by the schema validators`);
  process.exit(1);
}
console.log('schemas: every object valid, every broken copy rejected');
