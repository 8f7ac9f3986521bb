//! Test support shared by the workspace's test suites; a dev-dependency only, never linked
//! into recall itself.
//!
//! [`Tmpfs`]: a real, small filesystem for the disk-full tests (store, index, server),
//! mounted for one test and unmounted when dropped, also when the test fails. Mounting
//! needs root: without it the test skips with a message, except under `CI=true`, where a
//! test that would skip for a missing facility fails instead.
//!
//! [`pdf`]: qpdf's and poppler's checks of a PDF file.

#![forbid(unsafe_code)]

pub mod pdf;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for a test, unmounted when dropped.
pub struct Tmpfs {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount -o size=…`, e.g. `8m`); `None` (skip) when it
    /// cannot be mounted outside CI.
    ///
    /// # Panics
    /// Under `CI=true` when the tmpfs cannot be mounted, or when no temporary directory
    /// can be made.
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let parent = tempfile::tempdir().expect("a temporary directory");
        let dir = parent.path().join("mnt");
        std::fs::create_dir(&dir).expect("a mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "mounting a tmpfs (root) is required under CI: {out:?}"
            );
            eprintln!("skipping: cannot mount a tmpfs (not root?): {out:?}");
            return None;
        }
        Some(Tmpfs {
            dir,
            _parent: parent,
        })
    }

    /// The mounted filesystem's root.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // A process still holds a file (a server killed late): detach it.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}
