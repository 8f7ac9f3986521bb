"""Structural checks of FHIR resources with the fhir.resources models (PyPI).

Usage: python3 validate.py R4B|R5 FILE, where FILE holds a JSON array of resources.
Prints one line per invalid resource (the model's error, which names the element);
exit 1 on any.
"""
import json
import sys

version, path = sys.argv[1], sys.argv[2]
if version == "R5":
    from fhir.resources import get_fhir_model_class
else:
    from fhir.resources.R4B import get_fhir_model_class

bad = 0
with open(path, encoding="utf-8") as f:
    resources = json.load(f)
for i, r in enumerate(resources):
    try:
        get_fhir_model_class(r["resourceType"]).model_validate(r)
    except Exception as e:  # pydantic's ValidationError, or an unknown type
        bad += 1
        print(f"{i}: {e}")
print(f"validated {len(resources)} {version} resources, {bad} invalid")
sys.exit(1 if bad else 0)
