//! The built-in programs as the build ships them: const tables of instructions, generated from the
//! rules by this module's compiler and checked in (`table_x86_64.rs`), so that a boot hands the
//! kernel a ready program and compiles nothing.
//!
//! A unit test renders the tables again from [`Builtin::compile`] and fails when the checked-in
//! file differs (a rule changed without the table); `UPDATE_SECCOMP_TABLES=1 cargo test -p
//! sandbox-supervisor --lib seccomp::table` rewrites it. No flag of the supervisor changes a
//! built-in program today; a flag that selects a variant adds a [`Builtin`] and a table. On an
//! architecture without a generated table (aarch64 until one is generated there), the built-in
//! programs are compiled at run time instead.

use std::borrow::Cow;

use seccompiler::sock_filter;

use super::bpf::{compile_rules, Head};
use super::rules::Rules;
use super::{CheckedProgram, ProgramName, SeccompCompileError};

#[cfg(target_arch = "x86_64")]
#[path = "table_x86_64.rs"]
mod generated;

/// One built-in program: every program the supervisor installs that is not an operator's profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// The supervisor's own prelude.
    Prelude,
    /// The workload's built-in filter.
    Workload,
}

impl Builtin {
    /// Every built-in program (and every variant a flag could select): the table holds each.
    pub const ALL: [Builtin; 2] = [Builtin::Prelude, Builtin::Workload];

    /// Compiles the program from its rules at run time: the generator of the build's table, and
    /// the reference it is checked against.
    pub fn compile(self) -> Result<CheckedProgram, SeccompCompileError> {
        match self {
            Builtin::Prelude => {
                compile_rules(ProgramName::Prelude, Head::Prelude, &Rules::prelude())
            }
            Builtin::Workload => {
                compile_rules(ProgramName::Builtin, Head::Workload, &Rules::workload())
            }
        }
    }

    /// The program as the build ships it: the const table, nothing compiled (compiled at run time
    /// only on an architecture without a table).
    pub fn program(self) -> Result<CheckedProgram, SeccompCompileError> {
        match table(self) {
            Some(instructions) => Ok(CheckedProgram(Cow::Borrowed(instructions))),
            None => self.compile(),
        }
    }

    /// The table's name in the generated file.
    #[cfg(all(test, target_arch = "x86_64"))]
    fn constant(self) -> &'static str {
        match self {
            Builtin::Prelude => "PRELUDE",
            Builtin::Workload => "WORKLOAD",
        }
    }
}

/// The build's table for `builtin`, where this architecture has one.
#[cfg(target_arch = "x86_64")]
fn table(builtin: Builtin) -> Option<&'static [sock_filter]> {
    Some(match builtin {
        Builtin::Prelude => generated::PRELUDE,
        Builtin::Workload => generated::WORKLOAD,
    })
}

/// No table for this architecture: the programs are compiled at run time.
#[cfg(not(target_arch = "x86_64"))]
fn table(_: Builtin) -> Option<&'static [sock_filter]> {
    None
}

// A table is a program the kernel accepts: never empty, at most `MAX_PROGRAM_LEN` instructions
// (what `CheckedProgram::check` asks of a compiled one), checked by the build.
#[cfg(target_arch = "x86_64")]
const _: () = {
    let max = super::MAX_PROGRAM_LEN;
    assert!(!generated::PRELUDE.is_empty() && generated::PRELUDE.len() <= max);
    assert!(!generated::WORKLOAD.is_empty() && generated::WORKLOAD.len() <= max);
};

#[cfg(test)]
mod tests {
    // The checked-in table is x86_64's: another architecture has no table to compare yet.
    #[cfg(target_arch = "x86_64")]
    use super::*;

    /// The generated file for this architecture, rendered from the compiler's output.
    #[cfg(target_arch = "x86_64")]
    fn render() -> String {
        let mut text = String::from(
            "// @generated from the rules in rules.rs by seccomp::table's test; do not edit.\n\
             // Regenerate: UPDATE_SECCOMP_TABLES=1 cargo test -p sandbox-supervisor --lib seccomp::table\n\
             \n\
             use seccompiler::sock_filter;\n\
             \n\
             /// One instruction: `code`, `jt`, `jf`, `k`.\n\
             const fn i(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {\n    \
             sock_filter { code, jt, jf, k }\n\
             }\n",
        );
        for builtin in Builtin::ALL {
            let program = builtin.compile().expect("the built-in rules compile");
            text.push_str(&format!(
                "\n/// {} ({} instructions).\npub(super) const {}: &[sock_filter] = &[\n",
                match builtin {
                    Builtin::Prelude => "The supervisor's prelude",
                    Builtin::Workload => "The workload's built-in filter",
                },
                program.len(),
                builtin.constant()
            ));
            for insn in program.instructions() {
                text.push_str(&format!(
                    "    i(0x{:04x}, {}, {}, 0x{:08x}),\n",
                    insn.code, insn.jt, insn.jf, insn.k
                ));
            }
            text.push_str("];\n");
        }
        text
    }

    /// The checked-in table is exactly what the compiler makes of the rules today, and every
    /// built-in program the supervisor installs is that table, instruction for instruction.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_tables_are_the_compilers_output() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/steps/seccomp/table_x86_64.rs"
        );
        let rendered = render();
        if std::env::var_os("UPDATE_SECCOMP_TABLES").is_some() {
            std::fs::write(path, &rendered).unwrap();
        }
        let checked_in = std::fs::read_to_string(path).unwrap();
        assert!(
            checked_in == rendered,
            "{path} is not what the rules compile to: run UPDATE_SECCOMP_TABLES=1 cargo test -p sandbox-supervisor --lib seccomp::table, then rebuild"
        );
        for builtin in Builtin::ALL {
            let shipped = builtin.program().unwrap();
            assert!(matches!(shipped.0, Cow::Borrowed(_)), "{builtin:?}");
            assert_eq!(shipped, builtin.compile().unwrap(), "{builtin:?}");
        }
    }

    /// The workload's built-in program is the table whatever the options: alone, behind a
    /// profile; only the profile is compiled.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_workload_filter_uses_the_table() {
        use super::super::{compile_workload, Profile, WorkloadOptions};
        let shipped = Builtin::Workload.program().unwrap();
        let alone = compile_workload(&WorkloadOptions::default()).unwrap();
        assert_eq!(alone.programs, vec![shipped.clone()]);
        assert!(matches!(alone.programs[0].0, Cow::Borrowed(_)));
        let json = br#"{"workload": {"mismatch_action": "allow", "match_action": {"errno": 13}, "filter": [{"syscall": "getppid"}]}}"#;
        let stacked = compile_workload(&WorkloadOptions {
            profile: Some(Profile {
                name: "test.json",
                json,
            }),
            replace_builtin: false,
            cap_add: &[],
        })
        .unwrap();
        assert_eq!(stacked.programs.len(), 2);
        assert!(matches!(stacked.programs[0].0, Cow::Owned(_)));
        assert!(matches!(stacked.programs[1].0, Cow::Borrowed(_)));
        assert_eq!(stacked.programs[1], shipped);
    }
}
