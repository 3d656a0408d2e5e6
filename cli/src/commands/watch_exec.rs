//! `watch KEY -- CMD ARGS...`: running a command for each event, with the
//! environment etcdctl gives it.

use crate::error::{Failure, EXIT_FAILED};
use crate::output::simple::event_type;
use crate::output::text::go_quote;
use revkv::WatchResponse;
use std::ffi::OsString;
use std::process::Command;

/// The variables etcdctl sets for one event, as it sets them: the
/// revision of the response in decimal, the event type, key and value
/// Go-quoted (`fmt.Sprintf("ETCD_WATCH_KEY=%q", key)`: the quotes are part of
/// the value).
pub fn event_env(resp: &WatchResponse, index: usize) -> Vec<(&'static str, String)> {
    let Some(e) = resp.events.get(index) else {
        return Vec::new();
    };
    vec![
        ("ETCD_WATCH_REVISION", resp.revision.to_string()),
        (
            "ETCD_WATCH_EVENT_TYPE",
            go_quote(event_type(e.kind).as_bytes()),
        ),
        ("ETCD_WATCH_KEY", go_quote(&e.kv.key)),
        ("ETCD_WATCH_VALUE", go_quote(&e.kv.value)),
    ]
}

/// Runs `argv` once per event of `resp`, in order, its output going
/// straight to this process's standard output and error (flush what was
/// printed first). A command that cannot start or fails stops the watch
/// with etcdctl's message: `command ["CMD" "ARG"] error (exit status N)`.
pub fn run_for_events(argv: &[OsString], resp: &WatchResponse) -> Result<(), Failure> {
    let Some((program, args)) = argv.split_first() else {
        return Ok(());
    };
    for index in 0..resp.events.len() {
        let status = Command::new(program)
            .args(args)
            .envs(event_env(resp, index))
            .status();
        let problem = match status {
            Ok(s) if s.success() => continue,
            Ok(s) => match s.code() {
                Some(code) => format!("exit status {code}"),
                None => s.to_string(),
            },
            Err(e) => e.to_string(),
        };
        return Err(Failure::new(
            EXIT_FAILED,
            format!("command {} error ({problem})", quoted_list(argv)),
        ));
    }
    Ok(())
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn quoted_list(argv: &[OsString]) -> String {
    let items: Vec<String> = argv
        .iter()
        .map(|a| go_quote(a.to_string_lossy().as_bytes()))
        .collect();
    format!("[{}]", items.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_quote_the_command_as_go_does() {
        let argv: Vec<OsString> = vec!["sh".into(), "-c".into(), "exit \"3\"".into()];
        assert_eq!(quoted_list(&argv), r#"["sh" "-c" "exit \"3\""]"#);
    }
}
