//! Docker's seccomp profiles and the OCI runtime spec's (`config.json`'s `linux.seccomp`, or that
//! object alone), turned into seccompiler's JSON.
//!
//! A Docker or OCI profile has one default action and rules with actions of their own; a
//! seccompiler filter has one match and one mismatch action. So a profile becomes several
//! filters, installed together, where the kernel's rule (the strictest action of all the filters
//! wins) gives the profile's meaning back:
//!
//! - `gate`: every call some rule names (with the rule's argument conditions) is allowed, every
//!   other call gets the default action (left out when the default is to allow);
//! - one filter per other action: the calls of the rules with that action get it, every other
//!   call is allowed.
//!
//! A call a rule allows passes every filter; a call no rule names gets the default action from the
//! gate; a call a rule answers with `ERRNO(ENOSYS)` gets it from that rule's filter. When two
//! rules with different actions match the same call, the stricter action wins.
//!
//! Names unknown to seccompiler's table for this architecture are skipped, one debug line each
//! (as libseccomp does); rules whose `includes`/`excludes` leave them out on this architecture, for
//! the workload's capabilities or for this kernel are ignored; a rule that cannot be expressed
//! (an action without an equivalent, an unknown operator, an argument index above 5) is the
//! operator's error, naming the rule.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::bpf::TARGET_ARCH;

/// The names this architecture goes by in a profile's `arches` (Go's, libseccomp's, the kernel's).
#[cfg(target_arch = "x86_64")]
const NATIVE_ARCHES: [&str; 3] = ["amd64", "x86_64", "SCMP_ARCH_X86_64"];
#[cfg(target_arch = "aarch64")]
const NATIVE_ARCHES: [&str; 3] = ["arm64", "aarch64", "SCMP_ARCH_AARCH64"];

/// A Docker or OCI seccomp profile.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    /// containers' spelling (an errno's name), used without `defaultErrnoRet`.
    #[serde(default)]
    default_errno: Option<String>,
    // The architectures a libseccomp filter would add: this supervisor's filters allow only the
    // native one (the head kills any other), so these are read and left aside.
    #[serde(default)]
    #[allow(dead_code)]
    architectures: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    arch_map: Vec<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    flags: Vec<String>,
    #[serde(default)]
    listener_path: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    listener_metadata: Option<String>,
    #[serde(default)]
    syscalls: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Rule {
    #[serde(default)]
    names: Vec<String>,
    /// Docker's older spelling of a one-name rule.
    #[serde(default)]
    name: Option<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    /// containers' spelling (an errno's name), used without `errnoRet`.
    #[serde(default)]
    errno: Option<String>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    #[allow(dead_code)]
    comment: Option<String>,
    #[serde(default)]
    includes: Option<Scope>,
    #[serde(default)]
    excludes: Option<Scope>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Scope {
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Arg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

/// What a rule applies to here: the workload's capabilities (`CAP_NET_BIND_SERVICE`) and the
/// running kernel's version.
#[derive(Debug, Clone)]
pub(crate) struct Here {
    /// The capabilities the workload keeps, by name with the `CAP_` prefix.
    pub capabilities: Vec<String>,
    /// The running kernel's version (major, minor).
    pub kernel: (u32, u32),
}

impl Here {
    /// The workload's capabilities (`--cap-add`, by number) and this kernel.
    pub(crate) fn new(cap_add: &[u32]) -> Here {
        let release = nix::sys::utsname::uname()
            .map(|name| name.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        Here {
            capabilities: cap_add
                .iter()
                .filter_map(|cap| crate::steps::capabilities::NAMES.get(*cap as usize))
                .map(|name| (*name).to_owned())
                .collect(),
            kernel: version(&release).unwrap_or((0, 0)),
        }
    }
}

/// `4.8` or `5.10.0-26-amd64` as (major, minor).
fn version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The seccomp profile in `document`, when it is Docker's or the OCI runtime spec's: the object
/// itself (it has `defaultAction`), or an OCI configuration's `linux.seccomp`. `Ok(None)`: another
/// format (seccompiler's).
pub(crate) fn seccomp_object(document: &Value) -> Result<Option<&Value>, String> {
    let Some(object) = document.as_object() else {
        return Err("not a JSON object".to_owned());
    };
    if object.contains_key("defaultAction") {
        return Ok(Some(document));
    }
    if object.contains_key("ociVersion") || object.contains_key("linux") {
        return match document.pointer("/linux/seccomp") {
            Some(seccomp) => Ok(Some(seccomp)),
            None => Err("an OCI runtime configuration without linux.seccomp".to_owned()),
        };
    }
    Ok(None)
}

/// The errno `number`, else the one called `name` (`EPERM`), else none.
fn errno(number: Option<u32>, name: Option<&str>) -> Result<Option<u32>, String> {
    match (number, name) {
        (Some(number), _) => Ok(Some(number)),
        (None, Some(name)) => (1..4096)
            .find(|candidate| sandbox_plugin_api::errno_name(*candidate) == name)
            .map(|found| Some(found as u32))
            .ok_or_else(|| format!("unknown errno {name}")),
        (None, None) => Ok(None),
    }
}

/// seccompiler's action for a profile's `action` (with `errnoRet`, else EPERM).
fn action(name: &str, errno: Option<u32>) -> Result<Value, String> {
    let errno = errno.unwrap_or(libc::EPERM as u32);
    Ok(match name {
        "SCMP_ACT_ALLOW" => json!("allow"),
        "SCMP_ACT_ERRNO" => json!({ "errno": errno }),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => json!("kill_thread"),
        "SCMP_ACT_KILL_PROCESS" => json!("kill_process"),
        "SCMP_ACT_TRAP" => json!("trap"),
        "SCMP_ACT_LOG" => json!("log"),
        "SCMP_ACT_TRACE" => json!({ "trace": errno }),
        "SCMP_ACT_NOTIFY" => {
            return Err("SCMP_ACT_NOTIFY cannot be expressed (no user-space notifier)".to_owned())
        }
        other => return Err(format!("unknown action {other}")),
    })
}

/// seccompiler's condition for a profile's argument check.
fn condition(arg: &Arg) -> Result<Value, String> {
    if arg.index > 5 {
        return Err(format!("argument index {} (0 to 5)", arg.index));
    }
    let (op, value) = match arg.op.as_str() {
        "SCMP_CMP_EQ" => (json!("eq"), arg.value),
        "SCMP_CMP_NE" => (json!("ne"), arg.value),
        "SCMP_CMP_LT" => (json!("lt"), arg.value),
        "SCMP_CMP_LE" => (json!("le"), arg.value),
        "SCMP_CMP_GT" => (json!("gt"), arg.value),
        "SCMP_CMP_GE" => (json!("ge"), arg.value),
        // (arg & value) == valueTwo
        "SCMP_CMP_MASKED_EQ" => (json!({ "masked_eq": arg.value }), arg.value_two),
        other => return Err(format!("unknown operator {other}")),
    };
    Ok(json!({"index": arg.index, "type": "qword", "op": op, "val": value}))
}

/// Whether `rule` applies here (its `includes` and `excludes`).
fn applies(rule: &Rule, here: &Here) -> bool {
    let native = |arches: &[String]| {
        arches
            .iter()
            .any(|arch| NATIVE_ARCHES.contains(&arch.as_str()))
    };
    let has = |cap: &String| here.capabilities.contains(cap);
    if let Some(includes) = &rule.includes {
        if (!includes.arches.is_empty() && !native(&includes.arches))
            || !includes.caps.iter().all(has)
            || includes
                .min_kernel
                .as_deref()
                .and_then(version)
                .is_some_and(|min| here.kernel < min)
        {
            return false;
        }
    }
    if let Some(excludes) = &rule.excludes {
        if native(&excludes.arches) || excludes.caps.iter().any(has) {
            return false;
        }
    }
    true
}

/// Whether seccompiler knows `name` on this architecture.
fn known(name: &str) -> bool {
    let probe = json!({"probe": {"mismatch_action": "allow", "match_action": "log", "filter": [{"syscall": name}]}});
    seccompiler::compile_from_json(probe.to_string().as_bytes(), TARGET_ARCH).is_ok()
}

/// The rules of one filter: per call, its alternatives (`None`: unconditional).
type Calls = BTreeMap<String, Vec<Option<Vec<Value>>>>;

fn add(calls: &mut Calls, name: &str, conditions: &Option<Vec<Value>>) {
    let alternatives = calls.entry(name.to_owned()).or_default();
    if !alternatives.contains(conditions) {
        alternatives.push(conditions.clone());
    }
}

fn filter(match_action: &Value, mismatch_action: &Value, calls: &Calls) -> Value {
    let rules: Vec<Value> = calls
        .iter()
        .flat_map(|(name, alternatives)| {
            // An unconditional rule stands for every alternative (seccompiler would otherwise
            // keep only the conditional ones).
            let unconditional = alternatives.iter().any(Option::is_none);
            alternatives
                .iter()
                .filter(move |conditions| !unconditional || conditions.is_none())
                .take(if unconditional { 1 } else { usize::MAX })
                .map(move |conditions| match conditions {
                    None => json!({"syscall": name}),
                    Some(args) => json!({"syscall": name, "args": args}),
                })
        })
        .collect();
    json!({"match_action": match_action, "mismatch_action": mismatch_action, "filter": rules})
}

/// The profile `seccomp` (a Docker or OCI object) as seccompiler's JSON, with the names of its
/// filters in install order.
pub(crate) fn convert(seccomp: &Value, here: &Here) -> Result<(Value, Vec<String>), String> {
    let profile = Profile::deserialize(seccomp).map_err(|err| err.to_string())?;
    if profile.listener_path.is_some() {
        return Err("listenerPath cannot be expressed (no user-space notifier)".to_owned());
    }
    let default = errno(profile.default_errno_ret, profile.default_errno.as_deref())
        .and_then(|errno| action(&profile.default_action, errno))
        .map_err(|why| format!("defaultAction: {why}"))?;
    let allow = json!("allow");
    let mut gate = Calls::new();
    let mut by_action: Vec<(Value, Calls)> = Vec::new();
    for (index, rule) in profile.syscalls.iter().enumerate() {
        let names: Vec<&String> = rule.names.iter().chain(&rule.name).collect();
        let what = || {
            format!(
                "syscalls[{index}] ({})",
                names.first().map_or("", |name| name.as_str())
            )
        };
        let rule_action = errno(rule.errno_ret, rule.errno.as_deref())
            .and_then(|errno| action(&rule.action, errno))
            .map_err(|why| format!("{}: {why}", what()))?;
        let conditions = rule
            .args
            .as_ref()
            .filter(|args| !args.is_empty())
            .map(|args| args.iter().map(condition).collect::<Result<Vec<_>, _>>())
            .transpose()
            .map_err(|why| format!("{}: {why}", what()))?;
        if !applies(rule, here) {
            tracing::debug!(rule = %what(), "seccomp profile rule left aside: its includes or excludes leave it out here");
            continue;
        }
        let position = match by_action
            .iter()
            .position(|(action, _)| *action == rule_action)
        {
            Some(position) => position,
            None => {
                by_action.push((rule_action.clone(), Calls::new()));
                by_action.len() - 1
            }
        };
        for name in names {
            if !known(name) {
                tracing::debug!(syscall = %name, "seccomp profile names a call unknown on this architecture: skipped");
                continue;
            }
            add(&mut gate, name, &conditions);
            if rule_action != allow {
                add(&mut by_action[position].1, name, &conditions);
            }
        }
    }
    let mut filters = serde_json::Map::new();
    let mut order = Vec::new();
    if default != allow {
        filters.insert("gate".to_owned(), filter(&allow, &default, &gate));
        order.push("gate".to_owned());
    }
    for (number, (rule_action, calls)) in by_action.iter().enumerate() {
        if *rule_action != allow && !calls.is_empty() {
            let name = format!("action{number}");
            filters.insert(name.clone(), filter(rule_action, &allow, calls));
            order.push(name);
        }
    }
    Ok((Value::Object(filters), order))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> Here {
        Here {
            capabilities: vec![],
            kernel: (6, 1),
        }
    }

    #[test]
    fn tells_the_formats_apart_by_content() {
        let docker = json!({"defaultAction": "SCMP_ACT_ERRNO"});
        assert_eq!(seccomp_object(&docker), Ok(Some(&docker)));
        let oci = json!({"ociVersion": "1.0.2", "linux": {"seccomp": {"defaultAction": "SCMP_ACT_ALLOW"}}});
        assert_eq!(seccomp_object(&oci), Ok(Some(&oci["linux"]["seccomp"])));
        assert!(seccomp_object(&json!({"ociVersion": "1.0.2"})).is_err());
        assert_eq!(seccomp_object(&json!({"workload": {}})), Ok(None));
    }

    #[test]
    fn a_profile_becomes_a_gate_and_one_filter_per_other_action() {
        let profile = json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "syscalls": [
                {"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_BOOT"]}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
            ]
        });
        let (converted, order) = convert(&profile, &here()).unwrap();
        assert_eq!(order, ["gate", "action1"]);
        let gate: Vec<&str> = converted["gate"]["filter"]
            .as_array()
            .unwrap()
            .iter()
            .map(|rule| rule["syscall"].as_str().unwrap())
            .collect();
        assert_eq!(gate, ["clone3", "personality", "read", "write"]);
        assert_eq!(converted["gate"]["mismatch_action"], json!({"errno": 1}));
        assert_eq!(converted["action1"]["match_action"], json!({"errno": 38}));
        assert!(
            seccompiler::compile_from_json(converted.to_string().as_bytes(), TARGET_ARCH).is_ok()
        );
    }

    #[test]
    fn what_cannot_be_expressed_is_named() {
        let rule = |rule: Value| {
            convert(
                &json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]}),
                &here(),
            )
        };
        assert_eq!(
            rule(json!({"names": ["kill"], "action": "SCMP_ACT_NOTIFY"})).unwrap_err(),
            "syscalls[0] (kill): SCMP_ACT_NOTIFY cannot be expressed (no user-space notifier)"
        );
        assert_eq!(
            rule(json!({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]})).unwrap_err(),
            "syscalls[0] (kill): argument index 6 (0 to 5)"
        );
        assert!(rule(json!({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "bogus": 1})).is_err());
    }
}
