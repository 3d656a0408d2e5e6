//! The one runner of child processes: a test binary re-running one of its
//! own `#[ignore]`d tests as a child (the crash tests), or any other command
//! (the `revkv` tool in [`crate::cli`]). A [`Running`] child hands out its
//! complete standard output lines as they come, keeps its standard error,
//! and is killed and reaped if the test panics before it ends.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A command that runs the `#[ignore]`d test `test` of the current test
/// binary alone, with its output shown (`--nocapture`): standard input
/// closed, standard output and error piped, and no `REVKV_FAILPOINT`
/// inherited (the caller sets what the child needs).
pub fn test_child(test: &str) -> Command {
    test_child_under(&[], test)
}

/// Like [`test_child`], run under `wrapper` (a program and its arguments,
/// e.g. strace) when it is not empty.
pub fn test_child_under(wrapper: &[&str], test: &str) -> Command {
    let exe = std::env::current_exe().expect("the path of the running test binary");
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(exe);
            cmd
        }
        None => Command::new(exe),
    };
    cmd.args([
        "--exact",
        test,
        "--nocapture",
        "--ignored",
        "--test-threads=1",
    ])
    .env_remove("REVKV_FAILPOINT")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// A started child process. Its standard output (if piped) is read by a
/// thread into complete lines, handed out without their trailing newline
/// and whitespace: a last line cut short by the child's death has no
/// newline and is not handed out. Its standard error (if piped) is
/// collected. Dropping it kills and reaps the child.
#[derive(Debug)]
pub struct Running {
    child: Child,
    lines: Receiver<String>,
    stdout: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<String>>,
}

/// How a child ended, with what it printed.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Its complete standard output lines (trimmed at the end) not yet
    /// taken by [`Running::line`] or [`Running::line_within`].
    pub lines: Vec<String>,
    /// Its standard error, or "" when that was not piped.
    pub stderr: String,
}

impl Running {
    /// Starts `cmd`.
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Running> {
        let mut child = cmd.spawn()?;
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().map(|out| {
            std::thread::spawn(move || {
                let mut r = BufReader::new(out);
                loop {
                    let mut line = String::new();
                    match r.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line.ends_with('\n') => {
                            let complete = line.trim_end().to_string();
                            if tx.send(complete).is_err() {
                                break;
                            }
                        }
                        // A line cut by the child's end: it does not count.
                        Ok(_) => break,
                    }
                }
            })
        });
        let stderr = child.stderr.take().map(|mut err| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = err.read_to_string(&mut text);
                text
            })
        });
        Ok(Running {
            child,
            lines,
            stdout,
            stderr,
        })
    }

    /// Starts `cmd`, panicking if it cannot be started.
    pub fn start(cmd: &mut Command) -> Running {
        Running::spawn(cmd).unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"))
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's standard input, if it was piped and not taken yet:
    /// dropping it closes the child's input.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// The next complete line of standard output, waiting for it; `None`
    /// once the output is closed and every line was taken.
    pub fn line(&self) -> Option<String> {
        self.lines.recv().ok()
    }

    /// The next complete line of standard output if one comes within
    /// `limit`.
    pub fn line_within(&self, limit: Duration) -> Result<String, RecvTimeoutError> {
        self.lines.recv_timeout(limit)
    }

    /// The child's exit status if it has ended.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Waits for the child to end.
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait()
    }

    /// Kills the child (SIGKILL) if it still runs, and reaps it.
    pub fn kill(&mut self) -> std::io::Result<ExitStatus> {
        let _ = self.child.kill();
        self.child.wait()
    }

    /// Sends SIGINT (as Ctrl-C does) to the child.
    pub fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT {} failed", self.id());
    }

    /// Waits for the child to end; a child still running after `limit` is
    /// killed and reported as hanging (an error naming `what`).
    pub fn wait_at_most(&mut self, limit: Duration, what: &str) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| format!("{what}: {e}"))? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = self.kill();
                return Err(format!("{what}: did not end within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the child to end (killing it if it hangs past `limit`,
    /// which panics) and returns what it printed.
    pub fn finish_within(mut self, limit: Duration, what: &str) -> Finished {
        let status = self
            .wait_at_most(limit, what)
            .unwrap_or_else(|e| panic!("{e}"));
        self.collect(status)
    }

    /// Kills the child if it still runs and returns how it ended and what
    /// it printed.
    pub fn kill_and_collect(mut self) -> std::io::Result<Finished> {
        let status = self.kill()?;
        Ok(self.collect(status))
    }

    /// The output of an ended child.
    fn collect(mut self, status: ExitStatus) -> Finished {
        if let Some(reader) = self.stdout.take() {
            let _ = reader.join();
        }
        let lines = self.lines.try_iter().collect();
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        Finished {
            status,
            lines,
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Harmless on a child that was already reaped.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
