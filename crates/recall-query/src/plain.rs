//! Codes in plain words, for documents a patient is handed: HL7 PurposeOfUse codes, the
//! native actions, FHIR resource types. An unknown code is shown as it is (never hidden,
//! never guessed).

/// An HL7 v3 PurposeOfUse code spelled out.
pub fn purpose(code: &str) -> String {
    let words = match code {
        "TREAT" => "treatment",
        "ETREAT" => "emergency (break-glass) treatment",
        "BTG" => "break the glass",
        "ERTREAT" => "emergency room treatment",
        "CAREMGT" => "care management",
        "CLINTRL" => "clinical trial",
        "COC" => "coordination of care",
        "HPAYMT" => "payment",
        "CLMATTCH" => "claim attachment",
        "COVAUTH" => "coverage authorization",
        "ELIGDTRM" => "eligibility determination",
        "HOPERAT" => "health care operations",
        "HCOMPL" => "compliance",
        "HSYSADMIN" => "system administration",
        "HQUALIMP" => "quality improvement",
        "HRESCH" => "research",
        "HMARKT" => "marketing",
        "HLEGAL" => "legal",
        "HACCRED" => "accreditation",
        "HDIRECT" => "directory",
        "PATADMIN" => "patient administration",
        "PATRQT" => "at the patient's request",
        "FAMRQT" => "at the family's request",
        "PWATRNY" => "power of attorney",
        "SUPNWK" => "support network",
        "PUBHLTH" => "public health",
        "DISASTER" => "disaster",
        "THREAT" => "threat",
        "TRAIN" => "training",
        "HTEST" => "test health data",
        "MEMADMIN" => "member administration",
        "SYSDEV" => "system development",
        "RECORDMGT" => "records management",
        _ => return code.to_string(),
    };
    format!("{words} ({code})")
}

/// A native action as a past-tense verb.
pub fn action(code: &str) -> &str {
    match code {
        "read" => "viewed",
        "create" => "created",
        "update" => "changed",
        "delete" => "deleted",
        "search" => "searched",
        "print" => "printed",
        "export" => "exported",
        "disclose" => "disclosed",
        "import" => "imported",
        "query" => "queried",
        "login" => "signed in",
        "logout" => "signed out",
        "report" => "reported on",
        other => other,
    }
}

/// A FHIR resource type as the kind of record it is.
pub fn record(resource_type: &str) -> &str {
    match resource_type {
        "Patient" => "demographics",
        "Observation" => "observation or test result",
        "MedicationAdministration" => "medication given",
        "MedicationRequest" => "prescription",
        "MedicationDispense" => "medication dispensed",
        "MedicationStatement" => "medication list",
        "Encounter" => "visit",
        "DocumentReference" => "clinical document",
        "Condition" => "diagnosis or problem",
        "AllergyIntolerance" => "allergy",
        "CarePlan" => "care plan",
        "DiagnosticReport" => "diagnostic report",
        "Procedure" => "procedure",
        "Immunization" => "immunization",
        "ImagingStudy" => "imaging study",
        "ServiceRequest" => "order or referral",
        "Appointment" => "appointment",
        "Claim" => "insurance claim",
        "Coverage" => "insurance coverage",
        "AuditEvent" => "access log",
        other => other,
    }
}

/// What was done to which kind of record, as a patient reads it: `viewed: prescription`
/// (the action alone when no resource type is known).
pub fn what(action_code: &str, resource_type: &str) -> String {
    match resource_type {
        "" => action(action_code).to_string(),
        t => format!("{}: {}", action(action_code), record(t)),
    }
}

/// A time as recall shows it to people: `2026-03-04 10:22:01` (UTC, whole seconds; the
/// caller says "UTC" where the page does not).
pub fn when(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// An outcome worth a word (success needs none).
pub fn outcome(code: &str) -> Option<&'static str> {
    match code {
        "success" => None,
        "denied" => Some("refused"),
        "failure" => Some("failed"),
        _ => Some("other outcome"),
    }
}

/// A role code (`privacy_officer`) with its underscores as spaces.
pub fn role(code: &str) -> String {
    code.replace('_', " ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_codes_are_spelled_and_unknown_kept() {
        assert_eq!(
            super::purpose("ETREAT"),
            "emergency (break-glass) treatment (ETREAT)"
        );
        assert_eq!(super::purpose("XYZ"), "XYZ");
        assert_eq!(super::record("MedicationRequest"), "prescription");
        assert_eq!(super::action("frobnicate"), "frobnicate");
        assert_eq!(super::what("read", "Encounter"), "viewed: visit");
        assert_eq!(super::what("update", ""), "changed");
        let t: jiff::Timestamp = "2026-03-04T10:22:01.123456789Z".parse().unwrap();
        assert_eq!(super::when(t), "2026-03-04 10:22:01");
    }
}
