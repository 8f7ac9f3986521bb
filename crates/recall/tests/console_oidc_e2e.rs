//! Console sign-in through a real OpenID provider: panva's oidc-provider (an
//! OpenID-certified implementation, `tests/oidc/provider.mjs`) on loopback, a real
//! `recall serve` with `[console.oidc]`, and the whole browser flow in Debian's headless
//! chromium (`tests/console/oidc.mjs`): authorization code with PKCE, state and nonce, the
//! ID token verified against the provider's JWKS, role and tenant from its claims; a
//! patient from the provider sees only their own report; a replayed or forged callback and
//! a writer are refused. Then the log is checked for the sign-ins (actor `jwt:<sub>`).
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

    // The sign-ins are in the log, as the provider's subjects, with their roles.
    let page = json(server.get_justified(&auditor, "/v1/events?action=login&limit=100"));
    let logins: Vec<(String, String)> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
            (s(&e["actor"]["id"]), s(&e["actor"]["role"]))
        })
        .collect();
    for want in [
        ("jwt:privacy_officer.sso-po", "privacy_officer"),
        ("jwt:patient.MRN-OIDC-E2E-3", "patient"),
    ] {
        assert!(
            logins.contains(&(want.0.to_owned(), want.1.to_owned())),
            "{want:?} in {logins:?}"
        );
    }
    assert!(
        !logins.iter().any(|(who, _)| who.contains("writer")),
        "{logins:?}"
    );
    server.stop();
}
