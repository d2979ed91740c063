/*
 * sandbox_plugin.h: the C interface of a sandbox-supervisor failure-handler plugin.
 *
 * A plugin decides, for each hardening step the kernel or an outer runtime refused, whether the
 * supervisor aborts or goes on without that protection. The supervisor loads plugins through a
 * frozen ABI made of abi_stable's Rust types (a root module and extension v1, both prefix types,
 * reached through abi_stable's library header and type layouts). Those cannot be written safely in
 * C (docs/c-plugins.md says why), so a C plugin is two parts linked into one shared object:
 *
 *   - your C code, which implements the four functions below, built as a static library
 *     (position-independent: cc -fPIC);
 *   - the shim (examples/c-plugin/shim), a small Rust crate built against sandbox-plugin-api that
 *     exports the frozen ABI and calls these functions. Build it with
 *         SANDBOX_C_PLUGIN_LIB=/abs/path/libyours.a \
 *         SANDBOX_C_PLUGIN_NAME=yours SANDBOX_C_PLUGIN_VERSION=1.2.3 \
 *         cargo build --release --manifest-path examples/c-plugin/shim/Cargo.toml
 *     and deploy target/release/libsandbox_c_plugin.so (rename it as you like).
 *
 * The supervisor sees an ordinary plugin (`plugin:NAME@VERSION`): the same trusted loading, the
 * same deadlines, the same floor (an undeclared kind or a verdict other than 0 or 1 is a plugin
 * failure, exit 119). Every rule of docs/plugin-authors.md ("The contract") holds: start no
 * thread and no process; each decision runs in a short-lived child process, so state changed in
 * sandbox_plugin_decide does not persist; loading and each decision have a deadline. A C crash
 * while loading takes the supervisor down before any hardening (the workload never runs); a crash
 * while deciding kills only the decision's child, and the supervisor stops with exit 119.
 *
 * Strings handed to these functions are NUL-terminated UTF-8 and valid only during the call.
 * This header is versioned with sandbox-plugin-api: SANDBOX_PLUGIN_API_VERSION is the release it
 * was written for; the numbers below never change meaning.
 */
#ifndef SANDBOX_PLUGIN_H
#define SANDBOX_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SANDBOX_PLUGIN_API_VERSION "0.1.2"
/* The ABI line the shim's root module declares: plugins for 0.1.x load into every 0.1.x
 * supervisor. */
#define SANDBOX_PLUGIN_ABI_LINE "0.1.0"

/* Kind codes (SandboxFailureKind::code): the refused step. Codes are appended, never reused; the
 * shim never passes a code its sandbox-plugin-api does not know (it answers abort itself). */
#define SANDBOX_KIND_NETWORK_NAMESPACE 1u  /* unshare(CLONE_NEWNET), since 0.1.0 */
#define SANDBOX_KIND_SUPERVISOR_SECCOMP 2u /* the supervisor's own seccomp filter, since 0.1.0 */
#define SANDBOX_KIND_WORKLOAD_SECCOMP 3u   /* the workload's seccomp filter, since 0.1.0 */
#define SANDBOX_KIND_PID_NAMESPACE 4u      /* clone(CLONE_NEWPID|CLONE_NEWIPC), since 0.1.1 */
#define SANDBOX_KIND_MOUNT_NAMESPACE 5u    /* a private mount namespace and /proc, since 0.1.1 */
#define SANDBOX_KIND_FILESYSTEM_VIEW 6u    /* the workload's filesystem view, since 0.1.2 */
#define SANDBOX_KIND_LANDLOCK 7u           /* the workload's Landlock domain, since 0.1.2 */

/* Verdicts: anything else is a plugin failure (exit 119). */
#define SANDBOX_VERDICT_ABORT 0
#define SANDBOX_VERDICT_TOLERATE 1

/* Bits of sandbox_report.missing: context keys the supervisor did not send (it is older than the
 * key) or sent in a form that does not parse. Their fields hold 0 / NULL, which is not an
 * observation: never read a missing uid as "root" or missing capabilities as "none". */
#define SANDBOX_CONTEXT_GVISOR (1u << 0)
#define SANDBOX_CONTEXT_CONTAINER (1u << 1)
#define SANDBOX_CONTEXT_THREADS (1u << 2)
#define SANDBOX_CONTEXT_EFFECTIVE_CAPABILITIES (1u << 3)
#define SANDBOX_CONTEXT_UID (1u << 4)
#define SANDBOX_CONTEXT_SUPERVISOR_VERSION (1u << 5)
#define SANDBOX_CONTEXT_PLUGIN_API_VERSION (1u << 6)

/* The longest reason the supervisor shows, in characters (it cuts longer ones). */
#define SANDBOX_REASON_MAX 200

/* One refused step, as the shim hands it to sandbox_plugin_decide. */
struct sandbox_report {
    uint32_t kind;            /* SANDBOX_KIND_* */
    int32_t errno_value;      /* the raw errno (1 is EPERM); ambiguous: decide on it, do not guess its cause */
    const char *syscall;      /* "unshare(CLONE_NEWNET)" */
    const char *errno_name;   /* "EPERM", or "errno N" */
    const char *message;      /* one human sentence */
    const char *context_json; /* the context as a JSON object with the pinned keys below */
    /* The context's keys, parsed one by one (see plugin-api/context-schema/). Heuristics an
     * outer runtime can hide or fake: let them inform a decision, never switch a protection off
     * by themselves. */
    int gvisor;                      /* 1: /proc/version is gVisor's */
    const char *container;           /* the container clue ("/.dockerenv", ...), or NULL */
    uint64_t threads;                /* threads in the supervisor (1) */
    uint64_t effective_capabilities; /* the supervisor's CapEff */
    uint32_t uid;                    /* the supervisor's real uid */
    const char *supervisor_version;  /* or NULL */
    const char *plugin_api_version;  /* the supervisor's plugin API, or NULL */
    uint32_t missing;                /* SANDBOX_CONTEXT_* bits */
};

/* Called once, before anything else, with the operator's --handler-config as JSON text ("" when
 * none was given). Return 0 to accept it; to refuse it, write one sentence (NUL-terminated, at
 * most message_len bytes with the NUL) to message and return any other value: the supervisor
 * prints "plugin:NAME@VERSION rejected its configuration: SENTENCE" and exits 119. */
int sandbox_plugin_init(const char *config_json, char *message, size_t message_len);

/* The kinds this plugin may ever tolerate, asked once after init: write at most capacity
 * SANDBOX_KIND_* codes to kinds and return how many. The supervisor prints them before any
 * hardening and treats a tolerate for any other kind as a plugin failure. Name kinds one by one. */
size_t sandbox_plugin_tolerates(uint32_t *kinds, size_t capacity);

/* Decides one refused step: return SANDBOX_VERDICT_ABORT or SANDBOX_VERDICT_TOLERATE, and write a
 * short reason (one sentence, NUL-terminated, at most reason_len bytes with the NUL; reason[0]
 * left 0 for none) shown in the supervisor's WARN or abort line and recorded in the report. The
 * supervisor asks about every refused step, declared or not: check the kind first. */
int sandbox_plugin_decide(const struct sandbox_report *report, char *reason, size_t reason_len);

#ifdef __cplusplus
}
#endif

#endif /* SANDBOX_PLUGIN_H */
