//! `private-host [OPTIONS] -- COMMAND [ARGS...]`: runs COMMAND in a mount namespace of its own,
//! every mount private to it, with the host changes a test needs made there and nowhere else. The
//! namespace, and every mount made in it, goes when the last process in it exits: a test that
//! fails or panics leaves nothing on the host.
//!
//! - `--mqueue`: a new IPC namespace, and its own mqueue file system on `/dev/mqueue` (over the
//!   host's when systemd mounted one; when the host has no `/dev/mqueue`, `/dev` is rebuilt as a
//!   tmpfs of bind mounts of the host's entries, `/dev/ptmx` a link to `pts/ptmx`, plus that
//!   mount point).
//! - `--run-user UID` (repeatable): `/run/user` a tmpfs, `/run/user/UID` a tmpfs owned by UID,
//!   mode 0700, as systemd-logind makes one per logged-in user.
//! - `--shared`: every mount shared, systemd's default propagation (new peer groups of this
//!   namespace only: nothing propagates to the host).
//! - `--systemd`: `--mqueue --run-user 0 --run-user 1000 --shared`, a systemd host's usual state.
//! - `--overlay DIR` (repeatable): DIR becomes a copy-on-write view of itself (overlayfs, the
//!   upper layer in the scratch tmpfs): writes under DIR, such as `dpkg -i`'s, stay in the
//!   namespace. Needs `--scratch`.
//! - `--scratch DIR`: an existing empty directory the helper mounts a tmpfs on (in its namespace)
//!   for its own use; the caller removes the directory afterwards.
//!
//! Root only. A fresh, single-threaded process, so `unshare` applies to all of it.

use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

#[derive(Default)]
struct Options {
    mqueue: bool,
    run_user: Vec<u32>,
    shared: bool,
    overlay: Vec<PathBuf>,
    scratch: Option<PathBuf>,
    command: Vec<String>,
}

fn usage(why: &str) -> ! {
    eprintln!("private-host: {why}");
    eprintln!(
        "usage: private-host [--mqueue] [--run-user UID]... [--shared] [--systemd] \
         [--scratch DIR] [--overlay DIR]... -- COMMAND [ARGS...]"
    );
    std::process::exit(2)
}

fn fail(what: &str, err: impl std::fmt::Display) -> ! {
    eprintln!("private-host: failed to {what}: {err}");
    std::process::exit(125)
}

fn parse() -> Options {
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--mqueue" => options.mqueue = true,
            "--shared" => options.shared = true,
            "--run-user" => {
                let uid = value("--run-user");
                options.run_user.push(
                    uid.parse()
                        .unwrap_or_else(|_| usage(&format!("not a uid: {uid}"))),
                );
            }
            "--systemd" => {
                options.mqueue = true;
                options.shared = true;
                options.run_user.extend([0, 1000]);
            }
            "--overlay" => options.overlay.push(value("--overlay").into()),
            "--scratch" => options.scratch = Some(value("--scratch").into()),
            "--" => {
                options.command = args.collect();
                break;
            }
            other => usage(&format!("unknown option {other}")),
        }
    }
    if options.command.is_empty() {
        usage("no command");
    }
    if !options.overlay.is_empty() && options.scratch.is_none() {
        usage("--overlay needs --scratch");
    }
    options
}

fn mount_or_fail(source: &str, target: &Path, fstype: Option<&str>, flags: MsFlags, data: &str) {
    let data = (!data.is_empty()).then_some(data);
    mount(Some(source), target, fstype, flags, data)
        .unwrap_or_else(|err| fail(&format!("mount {source} on {}", target.display()), err));
}

fn bind(source: &Path, target: &Path, recursive: bool) {
    let flags = if recursive {
        MsFlags::MS_BIND | MsFlags::MS_REC
    } else {
        MsFlags::MS_BIND
    };
    mount(Some(source), target, None::<&str>, flags, None::<&str>).unwrap_or_else(|err| {
        fail(
            &format!("bind {} on {}", source.display(), target.display()),
            err,
        )
    });
}

/// `/dev` as a tmpfs holding bind mounts of the host's entries (so devices, `/dev/pts` and
/// `/dev/shm` work as before) and an empty `/dev/mqueue`: a mount point the host does not have.
fn rebuild_dev() {
    let host = std::fs::File::open("/dev").unwrap_or_else(|err| fail("open /dev", err));
    let old = PathBuf::from(format!("/proc/self/fd/{}", host.as_raw_fd()));
    mount_or_fail(
        "tmpfs",
        Path::new("/dev"),
        Some("tmpfs"),
        MsFlags::MS_NOSUID,
        "mode=755",
    );
    let entries = std::fs::read_dir(&old).unwrap_or_else(|err| fail("list the host's /dev", err));
    for entry in entries {
        let entry = entry.unwrap_or_else(|err| fail("list the host's /dev", err));
        let kind = entry
            .file_type()
            .unwrap_or_else(|err| fail("stat a /dev entry", err));
        let target = Path::new("/dev").join(entry.file_name());
        if entry.file_name() == "ptmx" {
            // A bound /dev/ptmx finds no `pts` beside it (the kernel looks in the bind mount):
            // the new instance's own multiplexer, as in a container's /dev.
            std::os::unix::fs::symlink("pts/ptmx", &target)
                .unwrap_or_else(|err| fail("link /dev/ptmx", err));
        } else if kind.is_symlink() {
            let to = std::fs::read_link(entry.path())
                .unwrap_or_else(|err| fail("read a /dev link", err));
            std::os::unix::fs::symlink(to, &target)
                .unwrap_or_else(|err| fail("copy a /dev link", err));
        } else if kind.is_dir() {
            std::fs::DirBuilder::new()
                .mode(0o755)
                .create(&target)
                .unwrap_or_else(|err| fail("make a /dev directory", err));
            bind(&entry.path(), &target, true);
        } else if kind.is_char_device()
            || kind.is_block_device()
            || kind.is_fifo()
            || kind.is_socket()
            || kind.is_file()
        {
            std::fs::File::create(&target).unwrap_or_else(|err| fail("make a /dev node", err));
            bind(&entry.path(), &target, false);
        }
    }
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create("/dev/mqueue")
        .unwrap_or_else(|err| fail("make /dev/mqueue", err));
}

fn main() {
    let options = parse();
    let mut flags = CloneFlags::CLONE_NEWNS;
    if options.mqueue {
        flags |= CloneFlags::CLONE_NEWIPC;
    }
    unshare(flags).unwrap_or_else(|err| fail("unshare a mount namespace", err));
    // Before anything else: no mount made here may propagate to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .unwrap_or_else(|err| fail("make every mount private", err));

    if let Some(scratch) = &options.scratch {
        mount_or_fail(
            "tmpfs",
            scratch,
            Some("tmpfs"),
            MsFlags::empty(),
            "mode=700",
        );
    }
    for (index, dir) in options.overlay.iter().enumerate() {
        let scratch = options.scratch.as_ref().expect("checked by parse");
        let upper = scratch.join(format!("upper{index}"));
        let work = scratch.join(format!("work{index}"));
        for made in [&upper, &work] {
            std::fs::create_dir(made).unwrap_or_else(|err| fail("make an overlay layer", err));
        }
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            dir.display(),
            upper.display(),
            work.display()
        );
        mount_or_fail("overlay", dir, Some("overlay"), MsFlags::empty(), &data);
    }
    if options.mqueue {
        if !Path::new("/dev/mqueue").is_dir() {
            rebuild_dev();
        }
        // The mqueue file system of this process's IPC namespace, the new one.
        mount_or_fail(
            "mqueue",
            Path::new("/dev/mqueue"),
            Some("mqueue"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            "",
        );
    }
    if !options.run_user.is_empty() {
        let run_user = Path::new("/run/user");
        if !run_user.is_dir() {
            fail("find /run/user", "the host has none to cover");
        }
        mount_or_fail(
            "tmpfs",
            run_user,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            "mode=755",
        );
        for uid in &options.run_user {
            let dir = run_user.join(uid.to_string());
            std::fs::create_dir(&dir).unwrap_or_else(|err| fail("make /run/user/UID", err));
            mount_or_fail(
                "tmpfs",
                &dir,
                Some("tmpfs"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                &format!("mode=700,uid={uid},gid={uid}"),
            );
        }
    }
    if options.shared {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_SHARED,
            None::<&str>,
        )
        .unwrap_or_else(|err| fail("make every mount shared", err));
    }

    let err = std::process::Command::new(&options.command[0])
        .args(&options.command[1..])
        .exec();
    fail(&format!("run {}", options.command[0]), err);
}
