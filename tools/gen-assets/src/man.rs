//! The sections of the man pages that clap's definition does not hold: ENVIRONMENT, FILES,
//! EXAMPLES and SEE ALSO, placed after EXIT STATUS (before VERSION), as man-pages(7) orders them.

/// The main page's sections after EXIT STATUS.
const MAIN: &str = r#".SH ENVIRONMENT
.TP
\fBRUST_LOG\fR
The log filter when \fB\-\-log\-level\fR is not given (default: info).
.TP
\fBPATH\fR
Where a \fICOMMAND\fR without a slash is looked up (default: /usr/local/bin:/usr/bin:/bin).
.TP
\fBXDG_RUNTIME_DIR\fR
With a filesystem view, this directory of the caller is masked in the workload's view.
.PP
\fICOMMAND\fR inherits the supervisor's environment unless \fB\-\-clear\-env\fR is given; each
\fB\-\-env\fR adds to it. The variables \fBcontainer\fR and \fBKUBERNETES_SERVICE_HOST\fR, like the
file /.dockerenv, are only shown as hints by probe and the report: only \fB\-\-outer\-boundary\fR
declares a boundary.
.SH FILES
.TP
\fI/usr/lib/sandbox\-supervisor/libsandbox_plugin_outer_sandbox.so\fR
The outer\-sandbox failure handler: tolerates the refusals of a declared outer boundary.
.TP
\fI/usr/lib/sandbox\-supervisor/libsandbox_plugin_policy.so\fR
The policy failure handler: tolerates the failure kinds its configuration lists.
.TP
\fI/etc/sandbox\-supervisor/policy.json\fR
The policy plugin's example configuration (\fB\-\-handler\-config\fR).
.TP
\fI/usr/share/doc/sandbox\-supervisor/examples/config.json\fR
An example \fB\-\-config\fR file; its schema is config.schema.json in the same documentation
directory, and the report's is report.schema.json.
.SH EXAMPLES
Run a command with every step and the strict default (any refusal aborts):
.PP
.nf
.RS
sandbox\-supervisor \-\- id \-u
.RE
.fi
.PP
Build in the current directory only, with limits:
.PP
.nf
.RS
sandbox\-supervisor \-\-fs minimal \-\-workspace "$PWD" \-\-memory\-max 1G \e
    \-\-pids\-max 256 \-\-timeout 30m \-\- make
.RE
.fi
.PP
Let the policy plugin, pinned to its digest, decide about refusals:
.PP
.nf
.RS
sandbox\-supervisor \-\-handler\-plugin /usr/lib/sandbox\-supervisor/libsandbox_plugin_policy.so \e
    \-\-handler\-plugin\-sha256 "$(sha256sum < /usr/lib/sandbox\-supervisor/libsandbox_plugin_policy.so | cut \-c1\-64)" \e
    \-\-handler\-config /etc/sandbox\-supervisor/policy.json \-\- id \-u
.RE
.fi
.PP
Check what this host allows, with the flags of a config file:
.PP
.nf
.RS
sandbox\-supervisor \-\-config /usr/share/doc/sandbox\-supervisor/examples/config.json probe \-\-json
.RE
.fi
"#;

/// Every page's SEE ALSO, without the page itself.
const PAGES: [&str; 3] = [
    "sandbox-supervisor",
    "sandbox-supervisor-probe",
    "sandbox-supervisor-simulate",
];

fn see_also(page: &str) -> String {
    let ours = PAGES
        .iter()
        .filter(|name| **name != page)
        .map(|name| format!("\\fB{}\\fR(1)", name.replace('-', "\\-")));
    let system = [
        "namespaces(7)",
        "capabilities(7)",
        "seccomp(2)",
        "landlock(7)",
        "cgroups(7)",
        "setpriv(1)",
        "unshare(1)",
    ]
    .map(|name| {
        let (name, section) = name.split_once('(').expect("name(section)");
        format!("\\fB{name}\\fR({section}")
    });
    let list: Vec<String> = ours.chain(system).collect();
    format!(
        ".SH \"SEE ALSO\"\n{}\n.PP\nREADME.md, operators.md and report.md in /usr/share/doc/sandbox\\-supervisor.\n",
        list.join(",\n")
    )
}

/// `text` (the page `page`, as clap_mangen wrote it) with the argument names in its SYNOPSIS
/// (`values`: each long option and its value's name) and the sections added before VERSION (at the
/// end of a page without one).
pub fn with_sections(page: &str, text: &str, values: &[(String, String)]) -> String {
    let mut text = text.to_owned();
    for (long, value) in values {
        let long = long.replace('-', "\\-");
        let value = value.replace('-', "\\-");
        text = text.replace(
            &format!("[\\fB\\-\\-{long}\\fR]"),
            &format!("[\\fB\\-\\-{long}\\fR \\fI{value}\\fR]"),
        );
    }
    let added = if page == "sandbox-supervisor" {
        format!("{MAIN}{}", see_also(page))
    } else {
        see_also(page)
    };
    let at = text.find(".SH VERSION\n").unwrap_or(text.len());
    format!("{}{added}{}", &text[..at], &text[at..])
}
