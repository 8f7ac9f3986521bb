//! Console sign-in through a real OpenID provider: panva's oidc-provider (an
//! OpenID-certified implementation, `tests/oidc/provider.mjs`) on loopback, a real
//! `recall serve` with `[console.oidc]`, and the whole browser flow in Debian's headless
//! chromium (`tests/console/oidc.mjs`): authorization code with PKCE, state and nonce, the
//! ID token verified against the provider's JWKS, role and tenant from its claims; a
//! patient from the provider sees only their own report; a replayed or forged callback and
//! a writer are refused. Then the log is checked for the sign-ins (actor `jwt:<sub>`) and
//! the refusals (outcome failure, no code, state or secret in them).
//! Without chromium or the node packages the test skips, except under `CI=true`.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

use common::console::{browser_tools, run_script, tests_dir};
use common::populated;
use common::server::{Server, create_key, json};

const TENANT: &str = "st-marys";
const SECRET: &str = "synthetic-client-secret-0123456789abcdef";
const PATIENT: &str = "MRN-OIDC-E2E-3";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The provider, killed on drop.
struct Provider(Child);

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_provider(port: u16, redirect: &str) -> Provider {
    let mut child = Command::new("node")
        .arg(tests_dir("oidc/provider.mjs"))
        .current_dir(tests_dir("oidc"))
        .env("OIDC_PORT", port.to_string())
        .env("CLIENT_SECRET", SECRET)
        .env("REDIRECT_URI", redirect)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next();
    assert!(
        matches!(first, Some(Ok(ref l)) if l == "listening"),
        "{first:?}"
    );
    // Keep reading: a closed pipe would end the provider at its next line of output.
    std::thread::spawn(move || lines.for_each(drop));
    Provider(child)
}

#[test]
fn sign_in_through_a_real_openid_provider() {
    if !browser_tools(&["oidc/node_modules/oidc-provider"]) {
        eprintln!("skipped: chromium or the node packages are missing");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data = populated(root.path(), TENANT, 40, 31);
    let (idp_port, port) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{idp_port}");
    let redirect = format!("http://127.0.0.1:{port}/login/oidc/callback");
    let cfg = data.join("recall.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[console.oidc]\nissuer = \"{issuer}\"\nclient_id = \"recall-console\"\n\
         client_secret_env = \"RECALL_E2E_OIDC_SECRET\"\nredirect_uri = \"{redirect}\"\n\
         scopes = [\"openid\"]\n"
    ));
    std::fs::write(&cfg, text).unwrap();
    let auditor = create_key(&data, TENANT, "auditor");
    let writer = create_key(&data, TENANT, "writer");
    let _idp = start_provider(idp_port, &redirect);
    let env = [("RECALL_E2E_OIDC_SECRET", SECRET)];
    let server = Server::start_on(&data, &env, &format!("127.0.0.1:{port}"));
    let e = serde_json::json!({
        "id": "oidc-e2e-1", "time": "2026-10-21T10:00:00Z",
        "actor": {"id": "dr-oidc", "role": "physician", "name": "Synthetic Doctor Oidc"},
        "action": "read", "patient": {"id": PATIENT}, "purpose": "TREAT",
        "resource": {"type": "Observation", "id": "obs-oidc-1"},
    });
    let r = server.post(&writer, "/v1/events", "application/json", e.to_string());
    assert_eq!(r.status(), 201);

    let env = [
        ("RECALL_URL", server.url.as_str()),
        ("ISSUER", issuer.as_str()),
        ("PATIENT", PATIENT),
    ];
    run_script("oidc.mjs", &env, 7);

    // The sign-ins are in the log, as the provider's subjects, with their roles; so are
    // the refused callbacks, like refused password sign-ins (outcome failure).
    let page = json(server.get_justified(&auditor, "/v1/events?action=login&limit=100"));
    let logins: Vec<(String, String, String)> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
            (
                s(&e["actor"]["id"]),
                s(&e["actor"]["role"]),
                s(&e["outcome"]),
            )
        })
        .collect();
    let has = |who: &str, role: &str, outcome: &str| {
        logins
            .iter()
            .filter(|l| (l.0.as_str(), l.1.as_str(), l.2.as_str()) == (who, role, outcome))
            .count()
    };
    assert_eq!(
        has("jwt:privacy_officer.sso-po", "privacy_officer", "success"),
        1,
        "{logins:?}"
    );
    assert_eq!(
        has("jwt:patient.MRN-OIDC-E2E-3", "patient", "success"),
        1,
        "{logins:?}"
    );
    // The writer's ID token verified, then the role was refused: its tenant and subject.
    assert_eq!(
        has("jwt:writer.some-service", "writer", "failure"),
        1,
        "{logins:?}"
    );
    // The replayed and the forged callback: no ID token verified, no subject known.
    assert_eq!(has("jwt:(unverified)", "", "failure"), 2, "{logins:?}");
    assert!(
        !logins
            .iter()
            .any(|l| l.0.contains("writer") && l.2 == "success"),
        "{logins:?}"
    );
    // They name no secret, code, state or token (the forged callback's were `forged`).
    let text = page.to_string();
    for secret in [SECRET, "forged", "id_token", "eyJ"] {
        assert!(!text.contains(secret), "{secret} in the log");
    }
    server.stop();
}
