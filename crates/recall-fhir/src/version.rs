//! The FHIR versions recall speaks, and how a request names one.

use std::fmt;

/// A FHIR release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FhirVersion {
    /// R4, 4.0.1 (the default, as in IHE BALP 1.1).
    #[default]
    R4,
    /// R5, 5.0.0.
    R5,
}

impl FhirVersion {
    /// The `fhirVersion` media-type parameter and CapabilityStatement value.
    pub fn number(self) -> &'static str {
        match self {
            Self::R4 => "4.0.1",
            Self::R5 => "5.0.0",
        }
    }

    /// The `origin.format` of events decoded from this version.
    pub fn origin_format(self) -> &'static str {
        match self {
            Self::R4 => "fhir-r4",
            Self::R5 => "fhir-r5",
        }
    }

    /// The version a `fhirVersion` parameter names (`4.0`, `4.0.1`, `5.0`, `5.0.0`).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "4.0" | "4.0.1" => Some(Self::R4),
            "5.0" | "5.0.0" => Some(Self::R5),
            _ => None,
        }
    }

    /// The version a media type names (`application/fhir+json; fhirVersion=5.0`), if any.
    pub fn from_media_type(media: &str) -> Option<Self> {
        media.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim().eq_ignore_ascii_case("fhirVersion"))
                .then(|| Self::parse(v.trim_matches('"')))?
        })
    }

    /// The media type of this version's JSON.
    pub fn media_type(self) -> String {
        format!("application/fhir+json; fhirVersion={}", &self.number()[..3])
    }
}

impl fmt::Display for FhirVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::R4 => "R4",
            Self::R5 => "R5",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_parameter() {
        let v = FhirVersion::from_media_type;
        assert_eq!(
            v("application/fhir+json; fhirVersion=5.0"),
            Some(FhirVersion::R5)
        );
        assert_eq!(
            v("application/fhir+json;fhirversion=\"4.0\""),
            Some(FhirVersion::R4)
        );
        assert_eq!(v("application/fhir+json"), None);
        assert_eq!(v("application/fhir+json; fhirVersion=3.0"), None);
        assert_eq!(
            FhirVersion::R5.media_type(),
            "application/fhir+json; fhirVersion=5.0"
        );
    }
}
