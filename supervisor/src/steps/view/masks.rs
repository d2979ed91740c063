//! The view's masks, prepared in the parent: Docker's masked paths, the operator's (beneath a
//! bind's destination too), the host's socket directories, and the host's path sockets.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::ops::Op;
use super::prepare::{check_path, cpath, under};
use super::{
    host, FsMode, View, ViewError, ViewOptions, HOST_CGROUPS, MASKED, MINIMAL, NEW, SCRATCH,
};

/// Masked paths: Docker's, the operator's, and host socket directories scratch does not cover.
pub(super) fn mask_ops(
    view: &mut View,
    options: &ViewOptions,
    _fresh_sys: bool,
) -> Result<(), ViewError> {
    let minimal = options.mode == FsMode::Minimal;
    let exists = |path: &str| std::fs::symlink_metadata(path).ok();
    // Masked paths: Docker's, the operator's, and host socket directories the scratch tmpfs
    // does not cover.
    let mut masks: Vec<PathBuf> = MASKED.iter().map(PathBuf::from).collect();
    if !minimal {
        masks.push(HOST_CGROUPS.into());
        if let Some(runtime) = super::runtime_dir() {
            let runtime = PathBuf::from(runtime);
            let covered = SCRATCH
                .iter()
                .any(|dir| runtime.starts_with(dir) && exists(dir).is_some());
            if runtime.is_absolute() && !covered {
                masks.push(runtime);
            }
        }
        if exists("/var/run").is_some_and(|meta| meta.is_dir()) {
            masks.push("/var/run".into());
        }
    }
    let mut host_paths: Vec<PathBuf> = masks.clone();
    // The operator's masks: like a bind's paths, no symbolic link in any component (a mask
    // through a link would hide another path than the one named, or nothing). A mask beneath a
    // bind's destination names the bind's file: it is checked at the bind's source, shown in
    // every mode, and applied after the bind (the operations run in order), so nothing hides it.
    for path in &options.masks {
        cpath("--mask", path)?;
        // The view's own tmpfs hides the host's file there already: nothing to mask, and a mask
        // the verification could never find there.
        if SCRATCH
            .iter()
            .chain(&["/dev"])
            .any(|dir| path.starts_with(dir))
        {
            return Err(ViewError::Unsafe {
                option: "--mask",
                path: path.clone(),
                why: "the sandbox mounts its own /tmp, /var/tmp, /run and /dev, \
                      which show nothing of the host's there: nothing to mask",
            });
        }
        let (host, bound) = through_binds(options, path);
        check_path("--mask", &host)?;
        if !minimal || bound || shown_in_minimal(path) {
            masks.push(path.clone());
            host_paths.push(host);
        }
    }
    for (path, host) in masks.into_iter().zip(host_paths) {
        let Some(meta) = std::fs::symlink_metadata(&host).ok() else {
            continue;
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        if minimal && !shown_in_minimal(&path) && !through_binds(options, &path).1 {
            continue;
        }
        view.ops.push(Op::Mask {
            target: under(NEW, &path),
            dir: meta.is_dir(),
        });
        view.masked.push(path.display().to_string());
    }
    Ok(())
}

/// A minimal root shows the system directories and a fresh `/proc` (no `/sys`).
fn shown_in_minimal(path: &Path) -> bool {
    MINIMAL.iter().any(|dir| path.starts_with(dir)) || path.starts_with("/proc")
}

/// The host path a view path shows, and whether it lies beneath a workspace or a bind: the last
/// of them (in mount order) whose destination holds it is the one on top.
fn through_binds(options: &ViewOptions, path: &Path) -> (PathBuf, bool) {
    let binds = options
        .workspaces
        .iter()
        .map(|path| (path.as_path(), path.as_path()))
        .chain(
            options
                .binds
                .iter()
                .map(|bind| (bind.source.as_path(), bind.dest.as_path())),
        );
    binds
        .filter_map(|(source, dest)| {
            let rest = path.strip_prefix(dest).ok()?;
            // `join("")` would add a slash, which a file's path must not end with.
            Some(if rest == Path::new("") {
                source.to_owned()
            } else {
                source.join(rest)
            })
        })
        .next_back()
        .map_or((path.to_owned(), false), |host| (host, true))
}

/// The host's path sockets the view would show, each masked with a bind of `/dev/null` (a
/// read-only bind does not stop `connect`): those on the host's tree and in the operator's binds.
/// The scratch space, `/dev`, `/proc`, a fresh `/sys`, the masked directories and the binds'
/// destinations hide what the host has there; a socket the operator binds by name is shown.
pub(super) fn socket_ops(
    view: &mut View,
    options: &ViewOptions,
    fresh_sys: bool,
) -> Result<(), ViewError> {
    let (sockets, unresolved) = host::path_sockets();
    view.sockets_unresolved = unresolved;
    let minimal = options.mode == FsMode::Minimal;
    let mut replaced: Vec<PathBuf> = vec!["/dev".into(), "/proc".into()];
    replaced.extend(view.noexec.iter().map(PathBuf::from));
    if fresh_sys || minimal {
        replaced.push("/sys".into());
    }
    // The directories masked with a tmpfs, as the mask operations say (no `stat` again).
    replaced.extend(view.ops.iter().filter_map(|op| match op {
        Op::Mask { target, dir: true } => {
            let shown = target.to_bytes().strip_prefix(NEW.as_bytes())?;
            Some(PathBuf::from(std::ffi::OsStr::from_bytes(shown)))
        }
        _ => None,
    }));
    let mut binds: Vec<(&Path, &Path)> = options
        .workspaces
        .iter()
        .map(|path| (path.as_path(), path.as_path()))
        .collect();
    binds.extend(
        options
            .binds
            .iter()
            .map(|bind| (bind.source.as_path(), bind.dest.as_path())),
    );
    let covered = |place: &Path, by_binds: bool| {
        replaced.iter().any(|dir| place.starts_with(dir))
            || (by_binds && binds.iter().any(|(_, dest)| place.starts_with(dest)))
    };
    let mut places: Vec<PathBuf> = Vec::new();
    for socket in &sockets {
        let on_root = !minimal || MINIMAL.iter().any(|dir| socket.starts_with(dir));
        if on_root && !covered(socket, true) {
            places.push(socket.clone());
        }
        for (source, dest) in &binds {
            match socket.strip_prefix(source) {
                Ok(rest) if rest != Path::new("") => {
                    let place = dest.join(rest);
                    if !covered(&place, false) {
                        places.push(place);
                    }
                }
                _ => {}
            }
        }
    }
    for place in places {
        let shown = place.display().to_string();
        if view.sockets.contains(&shown) || CString::new(shown.clone()).is_err() {
            continue;
        }
        view.ops.push(Op::Mask {
            target: under(NEW, &place),
            dir: false,
        });
        view.sockets.push(shown);
    }
    Ok(())
}
