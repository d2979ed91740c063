"""Validates OCSF findings (JSON lines on standard input) with ocsf-emitter (PyPI), which carries
the OCSF 1.5.0 schema as Pydantic models: each line must parse as a Detection Finding (class
2004) and pass ocsf-emitter's invariants (class and category identity, type_uid = class_uid * 100
+ activity_id, the sibling names, metadata.version). Prints one line per finding; exits 1 on the
first invalid one."""

import json
import sys

import ocsf_emitter
from ocsf_emitter import models

count = 0
for number, line in enumerate(sys.stdin, start=1):
    event = json.loads(line)
    try:
        finding = models.DetectionFinding.model_validate(event)
        ocsf_emitter.validate(finding)
    except Exception as error:  # noqa: BLE001 - the message is the test's output
        print(f"finding {number} is not a valid OCSF 1.5.0 Detection Finding: {error}")
        for detail in getattr(error, "field_errors", []) or []:
            print(f"  {detail}")
        sys.exit(1)
    count += 1
    print(f"finding {number}: valid {finding.class_name} {int(finding.type_uid)}")
print(f"{count} valid")
