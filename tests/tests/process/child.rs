//! The one harness of the process tests: start the `annal-crash-child` binary in a mode,
//! read its standard output line by line on a thread (a line the kill cut short, with no
//! newline, was never reported and is dropped), wait for its readiness line, kill it with
//! SIGKILL, and collect what it printed. The tests take turns ([`one_at_a_time`]).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Guards a wait for the child's readiness line against a hung child; never a timing
/// assertion.
pub const READY_WAIT: Duration = Duration::from_secs(60);

/// Runs the process tests one at a time; each takes this first. The directory lock is an
/// `flock` on `LOCK`, and a child being spawned holds a copy of each of this process's
/// descriptors until it execs: a log this process has just closed stays locked for that
/// instant, so with other tests spawning children in parallel a reopen, here or in a
/// child, could find it `Locked`.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `annal-crash-child <mode> <dir> <segment_bytes>`, for the caller to add the mode's
/// other arguments to and run (see the binary's docs for the modes).
pub fn command(mode: &str, dir: &Path, segment_bytes: u64) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_annal-crash-child"));
    command.arg(mode).arg(dir).arg(segment_bytes.to_string());
    command
}

/// A running child whose complete output lines arrive on a channel.
pub struct Running {
    child: Child,
    lines: Receiver<String>,
    reader: JoinHandle<()>,
    stderr: ChildStderr,
}

/// What a child printed once it ended.
pub struct Ended {
    /// How it ended.
    pub status: ExitStatus,
    /// Its complete output lines not yet taken with [`Running::next_line`], in order.
    pub lines: Vec<String>,
    /// Everything it wrote to standard error.
    pub stderr: String,
}

impl Running {
    /// Starts `command` with standard output and error piped and standard input as
    /// `stdin`.
    pub fn spawn(mut command: Command, stdin: Stdio) -> Running {
        let mut child = command
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (lines_tx, lines) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match stdout.read_until(b'\n', &mut line) {
                    // A line cut by the kill has no newline: it was never fully reported.
                    Ok(0) => break,
                    Ok(_) if line.last() == Some(&b'\n') => {
                        let text = String::from_utf8(line[..line.len() - 1].to_vec()).unwrap();
                        if lines_tx.send(text).is_err() {
                            break;
                        }
                    }
                    Ok(_) | Err(_) => break,
                }
            }
        });
        Running {
            child,
            lines,
            reader,
            stderr,
        }
    }

    /// The next complete line the child prints, waiting at most `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> Result<String, RecvTimeoutError> {
        self.lines.recv_timeout(timeout)
    }

    /// The child's readiness line (its first), waiting at most [`READY_WAIT`]; if none
    /// comes, kills the child and panics with `context` and its standard error.
    pub fn wait_ready(&mut self, context: &str) -> String {
        match self.next_line(READY_WAIT) {
            Ok(line) => line,
            Err(e) => {
                let _ = self.child.kill();
                let mut message = String::new();
                let _ = self.stderr.read_to_string(&mut message);
                panic!("{context}: child printed no readiness line ({e}); stderr: {message}");
            }
        }
    }

    /// The child's standard input, if it was piped and not taken yet.
    pub fn stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Waits for the child to end on its own and collects what it printed.
    pub fn wait(self) -> Ended {
        self.end(false)
    }

    /// Sends the child SIGKILL, waits for it and collects what it printed, however it
    /// ended.
    pub fn kill(self) -> Ended {
        self.end(true)
    }

    /// Kills the child with SIGKILL and collects what it printed, asserting (with
    /// `context`) that it was still running and died of that signal.
    pub fn kill_9(mut self, context: &str) -> Ended {
        let killed = self.child.kill();
        let ended = self.end(false);
        assert!(
            killed.is_ok() && ended.status.signal() == Some(libc::SIGKILL),
            "{context}: child was not killed by SIGKILL but ended with {:?}; stderr: {}",
            ended.status,
            ended.stderr
        );
        ended
    }

    fn end(mut self, kill: bool) -> Ended {
        if kill {
            self.child.kill().unwrap();
        }
        let status = self.child.wait().unwrap();
        self.reader.join().unwrap();
        let lines = self.lines.try_iter().collect();
        let mut stderr = String::new();
        self.stderr.read_to_string(&mut stderr).unwrap();
        Ended {
            status,
            lines,
            stderr,
        }
    }
}
