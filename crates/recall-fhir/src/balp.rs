//! The IHE BALP 1.1 (R4) shape of a RESTful AuditEvent: which profile a native action
//! falls under, and the agent types that profile fixes for its client, server and user.
//! The encoder writes these agents; the decoder recognises them, so that native → FHIR
//! → native stays exact. BALP 1.1 profiles R4 only; R5 output keeps recall's plain shape.
//!
//! Invariant: the codes are BALP 1.1.4's own (the client of a Read is DICOM 110152, of a
//! Query or Create 110153, of a Delete 110150): a validator matches agents by them.

use crate::codes::DICOM;

/// A (system, code) pair.
pub type Code = (&'static str, &'static str);

/// HL7 v3 ParticipationType: the user agent's type.
pub const PARTICIPATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
/// Provenance participant types (the server of a Delete is the custodian).
pub const PROVENANCE: &str = "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
/// Object role 4, Domain Resource: the role of the resource a RESTful operation touched.
pub const DOMAIN_RESOURCE: &str = "4";

/// The BALP profile of a RESTful action and the types of its three agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Profile name without the `IHE.BasicAudit.` prefix: Read, Query, Create, Update,
    /// Delete (a Patient… variant applies when the event names a patient).
    pub profile: &'static str,
    /// The requesting user.
    pub user: Code,
    /// The client application (its network address is the request's).
    pub client: Code,
    /// The server that performed the operation.
    pub server: Code,
}

const IRCP: Code = (PARTICIPATION, "IRCP");
const AUTHOR: Code = (PARTICIPATION, "AUT");
const DESTINATION: Code = (DICOM, "110152");
const SOURCE: Code = (DICOM, "110153");

/// The BALP roles of a native action; `None` when no BALP RESTful profile covers it.
pub fn roles(action: &str) -> Option<Roles> {
    let (profile, user, client, server) = match action {
        "read" | "vread" => ("Read", IRCP, DESTINATION, SOURCE),
        "search" | "search-type" | "search-system" => ("Query", IRCP, SOURCE, DESTINATION),
        "create" => ("Create", AUTHOR, SOURCE, DESTINATION),
        "update" | "patch" => ("Update", AUTHOR, SOURCE, DESTINATION),
        "delete" => (
            "Delete",
            AUTHOR,
            (DICOM, "110150"),
            (PROVENANCE, "custodian"),
        ),
        _ => return None,
    };
    Some(Roles {
        profile,
        user,
        client,
        server,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restful_actions_have_roles_others_none() {
        assert_eq!(roles("vread").unwrap().profile, "Read");
        assert_eq!(roles("search-type").unwrap().client, SOURCE);
        assert_eq!(roles("read").unwrap().client, DESTINATION);
        assert_eq!(roles("delete").unwrap().server.1, "custodian");
        for other in ["login", "export", "print", "disclose", "execute"] {
            assert_eq!(roles(other), None, "{other}");
        }
    }
}
