//! A Python environment for the validators the tests take from PyPI (the OCSF finding validator,
//! the Kubernetes manifest validator): a virtual environment in the target directory, created and
//! filled with `pip` on first use (tests/run.sh does it up front), reused afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The validators and their pinned versions.
pub const PACKAGES: [&str; 2] = ["ocsf-emitter==0.3.0", "kubernetes-validate==1.37.0"];

/// The virtual environment's `python`, with every package of [`PACKAGES`] importable. Creates
/// the environment and installs what is missing under an exclusive lock, so that concurrent tests
/// share one environment. `SANDBOX_TESTS_VENV` names another directory.
pub fn python() -> PathBuf {
    let venv = std::env::var_os("SANDBOX_TESTS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::target_dir().join("../py-venv"));
    std::fs::create_dir_all(&venv).expect("create the venv directory");
    let lock = std::fs::File::create(venv.join(".lock")).expect("create the venv lock");
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| errno)
        .expect("lock the venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        crate::run_ok(Command::new(base_python()).args(["-m", "venv"]).arg(&venv));
    }
    let stamp = venv.join(".installed");
    let wanted = PACKAGES.join("\n");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        crate::run_ok(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    // pip's cache would be a file the tests leave in the user's home.
                    "--no-cache-dir",
                ])
                .args(PACKAGES),
        );
        std::fs::write(&stamp, wanted).expect("write the venv stamp");
    }
    python
}

fn base_python() -> &'static Path {
    // Debian's interpreter when present (tests/run.sh installs it), else whatever is on PATH.
    if Path::new("/usr/bin/python3").exists() {
        Path::new("/usr/bin/python3")
    } else {
        Path::new("python3")
    }
}
