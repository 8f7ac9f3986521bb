//! A `recall serve` child process on a loopback port, and an HTTP client for it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

use super::{recall_bin, recall_ok};

/// A running server; killed (SIGKILL) when dropped unless stopped first.
/// The justification the tests send: synthetic, no PHI.
pub const JUSTIFICATION: &str = "test: checking the self-audit records";

pub struct Server {
    /// The child process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The client used by the helpers.
    pub http: Client,
    /// Bound address of each `[sources.<name>]` syslog listener, by name.
    pub syslog: std::collections::HashMap<String, String>,
}

impl Server {
    /// Starts `recall serve` on the data directory and waits until it listens.
    pub fn start(data: &Path) -> Server {
        Self::start_with(data, &[])
    }

    /// Like [`Server::start`] with extra environment variables.
    pub fn start_with(data: &Path, env: &[(&str, &str)]) -> Server {
        Self::launch(Command::new(recall_bin()), data, env)
    }

    /// Like [`Server::start_with`], the process limited to `nofile` file descriptors
    /// (soft and hard, by `prlimit`, which execs the server: the pid stays the server's).
    pub fn start_limited(data: &Path, env: &[(&str, &str)], nofile: u64) -> Server {
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={nofile}:{nofile}"))
            .arg("--")
            .arg(recall_bin());
        Self::launch(cmd, data, env)
    }

    /// Like [`Server::start_with`] on a given address (when the configuration must name
    /// the server's own URL, as an OpenID redirect URI does).
    pub fn start_on(data: &Path, env: &[(&str, &str)], listen: &str) -> Server {
        Self::launch_on(Command::new(recall_bin()), data, env, listen)
    }

    fn launch(cmd: Command, data: &Path, env: &[(&str, &str)]) -> Server {
        Self::launch_on(cmd, data, env, "127.0.0.1:0")
    }

    fn launch_on(mut cmd: Command, data: &Path, env: &[(&str, &str)], listen: &str) -> Server {
        cmd.arg("--data")
            .arg(data)
            .args(["serve", "--listen", listen])
            .env_remove("RECALL_DATA")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start recall serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let (syslog_tx, syslog_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                // "recall syslog <name> <kind> listening on <addr>", before the HTTP line.
                if let Some(rest) = line.strip_prefix("recall syslog ") {
                    let name = rest.split(' ').next().unwrap_or_default().to_string();
                    let addr = rest.rsplit(' ').next().unwrap_or_default().to_string();
                    let _ = syslog_tx.send((name, addr));
                } else if let Some(addr) = line.strip_prefix("recall listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr.trim().to_string());
                    }
                } else if std::env::var_os("RECALL_TEST_SERVER_LOG").is_some() {
                    eprintln!("server: {line}");
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!("recall serve did not start: {:?}", out.status);
            }
        };
        Server {
            child,
            url: format!("http://{addr}"),
            http: Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            syslog: syslog_rx.try_iter().collect(),
        }
    }

    /// GET with a bearer key (no justification).
    pub fn get(&self, key: &str, path: &str) -> Response {
        self.req(self.http.get(format!("{}{path}", self.url)), key)
    }

    /// GET with a bearer key and a justification (`Recall-Justification`), which shows
    /// an auditor the fields the policy keeps behind one (`detail`).
    pub fn get_justified(&self, key: &str, path: &str) -> Response {
        let b = self
            .http
            .get(format!("{}{path}", self.url))
            .header("recall-justification", JUSTIFICATION);
        self.req(b, key)
    }

    /// POST a body with a content type and a bearer key.
    pub fn post(
        &self,
        key: &str,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> Response {
        self.req(
            self.http
                .post(format!("{}{path}", self.url))
                .header("content-type", content_type)
                .body(body),
            key,
        )
    }

    fn req(&self, b: RequestBuilder, key: &str) -> Response {
        let b = if key.is_empty() {
            b
        } else {
            b.bearer_auth(key)
        };
        b.send().expect("request")
    }

    /// The value of an unlabelled gauge in `/metrics`.
    pub fn gauge(&self, name: &str) -> f64 {
        let text = self.get("", "/metrics").text().unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
            .parse()
            .unwrap()
    }

    /// Waits (up to 10 s) until a gauge reads `want`, and returns what it read last: gauges
    /// computed from the index lag an acknowledged write by the indexing delay.
    pub fn gauge_settled(&self, name: &str, want: f64) -> f64 {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.gauge(name);
            if got == want || std::time::Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM (a system call: a forked `kill` can fail when a loaded parallel suite
    /// hits process limits) and waits for a clean exit. A server still running 120 s after
    /// the signal fails the test with its threads' stacks instead of hanging the suite.
    pub fn stop(mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .expect("SIGTERM to recall serve");
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            // Drop kills the server when this fails; the threads' stacks say where it was.
            if std::time::Instant::now() >= deadline {
                panic!(
                    "recall serve did not exit within 120 s of SIGTERM; its threads:\n{}",
                    thread_stacks(&self.child.id().to_string())
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "recall serve exited with {status:?}");
        std::mem::forget(self);
    }

    /// SIGKILL, no chance to flush anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::forget(self);
    }
}

/// Every thread's backtrace of a running process (gdb, when installed), for a test that
/// found the server stuck.
fn thread_stacks(pid: &str) -> String {
    Command::new("gdb")
        .args(["-p", pid, "-batch", "-ex", "thread apply all bt"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|e| format!("(gdb could not run: {e})"))
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `recall keys create --tenant T --role R --new-tenant` (the tenant may be new): the key
/// text.
pub fn create_key(data: &Path, tenant: &str, role: &str) -> String {
    key_from(recall_ok(
        data,
        &[
            "keys",
            "create",
            "--tenant",
            tenant,
            "--role",
            role,
            "--new-tenant",
        ],
    ))
}

/// `recall keys create --role patient --patient <patient> --new-tenant`: a key bound to
/// one patient.
pub fn patient_key(data: &Path, tenant: &str, patient: &str) -> String {
    key_from(recall_ok(
        data,
        &[
            "keys",
            "create",
            "--tenant",
            tenant,
            "--role",
            "patient",
            "--patient",
            patient,
            "--new-tenant",
        ],
    ))
}

fn key_from(out: String) -> String {
    out.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .expect("a key on stdout")
        .to_string()
}

/// The JSON body of a response.
pub fn json(r: Response) -> Value {
    let text = r.text().unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The reads (`GET /v1/events/{tenant}/{seq}`: `event` and `leaf_hash`) of seqs `0..base`
/// of a tenant's log, checking that each is one of recall's own records (`source.system`
/// `recall` or `recall-cli`, appended by `recall:…`: keys created with the CLI, recording
/// started): that a test's
/// first receipt at `base` means the log held nothing else before it. Each read appends
/// its own audit record at the end of the log.
pub fn own_records_before(server: &Server, key: &str, tenant: &str, base: u64) -> Vec<Value> {
    (0..base)
        .map(|seq| {
            let r = server.get(key, &format!("/v1/events/{tenant}/{seq}"));
            assert_eq!(r.status(), 200, "{tenant}/{seq}");
            let body = json(r);
            let system = body["event"]["source"]["system"].as_str();
            assert!(
                matches!(system, Some("recall" | "recall-cli")),
                "{tenant}/{seq} is not recall's own: {body}"
            );
            let by = body["event"]["appended_by"].as_str().unwrap_or_default();
            assert!(
                by.starts_with("recall:"),
                "{tenant}/{seq} not appended by recall: {body}"
            );
            assert_eq!(body["event"]["seq"], seq, "{body}");
            body
        })
        .collect()
}
