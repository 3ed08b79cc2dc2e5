//! A minimal `sd_notify(3)` client: tells systemd when the daemon is ready, stopping or
//! reloading, publishes a one-line status, and feeds the service watchdog.
//!
//! Owns nothing but a short-lived datagram socket per message. Invariants:
//! - Without `NOTIFY_SOCKET` (run by hand, in a container, under another supervisor) every
//!   call is a successful no-op returning `Ok(false)`, so callers never need to check.
//! - Only the standard library talks to the socket (no libsystemd, no unsafe code); the
//!   socket is either a filesystem path or a Linux abstract name written `@name`.
//! - `NOTIFY_SOCKET` is read, never removed: removing environment variables from a
//!   multi-threaded process is racy, and the variable is harmless to child processes
//!   because the daemon spawns none.
//! - A status message is one line: systemd separates assignments with newlines, so any
//!   newline in a status would start a new (bogus) assignment.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The environment variable systemd sets to the notification socket's address.
const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";
/// Watchdog period in microseconds, set when the unit has `WatchdogSec=`.
const WATCHDOG_USEC_ENV: &str = "WATCHDOG_USEC";
/// The process the watchdog period is meant for (absent means "the main process").
const WATCHDOG_PID_ENV: &str = "WATCHDOG_PID";

/// A stuck receiver must not stall the daemon: systemd drains its queue promptly, so a
/// send that blocks this long means the manager is gone or wedged.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Sends `state` (newline-separated `KEY=value` assignments) to systemd.
///
/// Returns `Ok(false)` when not started by systemd (`NOTIFY_SOCKET` unset or empty),
/// `Ok(true)` once the datagram is sent.
pub fn notify(state: &str) -> io::Result<bool> {
    notify_to(std::env::var_os(NOTIFY_SOCKET_ENV).as_deref(), state)
}

/// `READY=1`: configuration loaded and tailers started.
pub fn ready() -> io::Result<bool> {
    notify("READY=1")
}

/// `STOPPING=1`: graceful shutdown has begun (in-flight batches are draining).
pub fn stopping() -> io::Result<bool> {
    notify("STOPPING=1")
}

/// `RELOADING=1`: a SIGHUP reload has begun; follow it with [`ready`] when done.
pub fn reloading() -> io::Result<bool> {
    notify("RELOADING=1")
}

/// `WATCHDOG=1`: the main loop is alive and healthy.
pub fn watchdog() -> io::Result<bool> {
    notify("WATCHDOG=1")
}

/// `STATUS=<msg>`, shown by `systemctl status`. Newlines in `msg` become spaces.
pub fn status(msg: &str) -> io::Result<bool> {
    notify(&status_assignment(msg))
}

/// How often to send `WATCHDOG=1`: half the unit's `WatchdogSec=`, as `sd_watchdog_enabled(3)`
/// recommends. `None` when the watchdog is off or meant for another process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var(WATCHDOG_USEC_ENV).ok();
    let pid = std::env::var(WATCHDOG_PID_ENV).ok();
    watchdog_interval_from(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// Sends `WATCHDOG=1` every `interval` while `healthy()` holds, until `shutdown` fires.
///
/// An unhealthy pipeline simply stops feeding the watchdog: systemd then kills and
/// restarts the service (`Restart=on-failure`), which is the point of having one.
pub async fn watchdog_loop(
    interval: Duration,
    healthy: impl Fn() -> bool,
    shutdown: CancellationToken,
) {
    let socket = std::env::var_os(NOTIFY_SOCKET_ENV);
    watchdog_loop_to(socket.as_deref(), interval, healthy, shutdown).await;
}

/// [`watchdog_loop`] with the socket address passed in, so tests need no shared env.
async fn watchdog_loop_to(
    socket: Option<&OsStr>,
    interval: Duration,
    healthy: impl Fn() -> bool,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_healthy = true;
    loop {
        tokio::select! {
            // Shutdown wins a tie: no WATCHDOG=1 after the daemon has begun stopping.
            biased;
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let is_healthy = healthy();
        if is_healthy != was_healthy {
            if is_healthy {
                tracing::info!("pipeline healthy again; feeding the systemd watchdog");
            } else {
                tracing::warn!("pipeline unhealthy; no longer feeding the systemd watchdog");
            }
            was_healthy = is_healthy;
        }
        if is_healthy {
            if let Err(error) = notify_to(socket, "WATCHDOG=1") {
                tracing::warn!(%error, "cannot send WATCHDOG=1 to systemd");
            }
        }
    }
}

/// [`notify`] with the socket address passed in (`None` = not under systemd).
fn notify_to(socket: Option<&OsStr>, state: &str) -> io::Result<bool> {
    let Some(socket) = socket.filter(|s| !s.is_empty()) else {
        return Ok(false);
    };
    let address = socket_address(socket)?;
    let sender = UnixDatagram::unbound()?;
    sender.set_write_timeout(Some(SEND_TIMEOUT))?;
    let sent = sender.send_to_addr(state.as_bytes(), &address)?;
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("sent {sent} of {} bytes to {socket:?}", state.len()),
        ));
    }
    Ok(true)
}

/// Parses `NOTIFY_SOCKET`: an absolute path, or `@name` for a Linux abstract socket.
fn socket_address(socket: &OsStr) -> io::Result<SocketAddr> {
    let bytes = socket.as_bytes();
    match bytes.first() {
        Some(b'/') => SocketAddr::from_pathname(socket),
        Some(b'@') => abstract_address(&bytes[1..]),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{NOTIFY_SOCKET_ENV}={socket:?} is neither an absolute path nor @abstract"),
        )),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &[u8]) -> io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_address(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract notification sockets exist only on Linux",
    ))
}

fn status_assignment(msg: &str) -> String {
    let one_line: String = msg
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    format!("STATUS={one_line}")
}

/// The watchdog decision without the environment: `usec` is `WATCHDOG_USEC`, `pid` is
/// `WATCHDOG_PID`, `own_pid` is this process.
fn watchdog_interval_from(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    if let Some(pid) = pid {
        // Set by a parent for a different process (e.g. a wrapper that exec'd us is
        // fine, a forked child is not): the watchdog is not ours to feed.
        if pid.trim().parse::<u32>().ok()? != own_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::ffi::OsString;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// A bound receiver in a fresh temp dir, standing in for systemd's socket.
    fn receiver() -> (tempfile::TempDir, std::path::PathBuf, UnixDatagram) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_nonblocking(true).unwrap();
        (dir, path, socket)
    }

    fn drain(socket: &UnixDatagram) -> Vec<String> {
        let mut messages = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = socket.recv(&mut buf) {
            messages.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
        messages
    }

    #[test]
    fn unset_or_empty_socket_is_a_quiet_no_op() {
        assert!(!notify_to(None, "READY=1").unwrap());
        assert!(!notify_to(Some(OsStr::new("")), "READY=1").unwrap());
    }

    #[test]
    fn sends_the_state_to_a_path_socket() {
        let (_dir, path, socket) = receiver();
        assert!(notify_to(Some(path.as_os_str()), "READY=1").unwrap());
        assert!(notify_to(Some(path.as_os_str()), "STOPPING=1").unwrap());
        assert_eq!(drain(&socket), ["READY=1", "STOPPING=1"]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("firetail-sd-notify-test-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let socket = UnixDatagram::bind_addr(&address).unwrap();
        socket.set_nonblocking(true).unwrap();
        let env_value = OsString::from(format!("@{name}"));
        assert!(notify_to(Some(&env_value), "WATCHDOG=1").unwrap());
        assert_eq!(drain(&socket), ["WATCHDOG=1"]);
    }

    #[test]
    fn relative_socket_paths_are_rejected() {
        let err = notify_to(Some(OsStr::new("run/notify")), "READY=1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("run/notify"), "{err}");
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gone.sock");
        assert!(notify_to(Some(path.as_os_str()), "READY=1").is_err());
    }

    #[test]
    fn status_is_kept_on_one_line() {
        assert_eq!(
            status_assignment("3 flows\nall healthy\r"),
            "STATUS=3 flows all healthy "
        );
        assert_eq!(status_assignment("ok"), "STATUS=ok");
    }

    #[test]
    fn watchdog_interval_is_half_the_period() {
        let half = watchdog_interval_from(Some("30000000"), None, 42);
        assert_eq!(half, Some(Duration::from_secs(15)));
        let for_us = watchdog_interval_from(Some("30000000"), Some("42"), 42);
        assert_eq!(for_us, Some(Duration::from_secs(15)));
    }

    #[test]
    fn watchdog_interval_is_off_when_not_ours_or_nonsense() {
        assert_eq!(watchdog_interval_from(None, None, 42), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, 42), None);
        assert_eq!(watchdog_interval_from(Some("soon"), None, 42), None);
        assert_eq!(
            watchdog_interval_from(Some("30000000"), Some("7"), 42),
            None
        );
        assert_eq!(
            watchdog_interval_from(Some("30000000"), Some("x"), 42),
            None
        );
    }

    #[tokio::test]
    async fn watchdog_loop_feeds_only_while_healthy_and_stops_on_shutdown() {
        let (_dir, path, socket) = receiver();
        let shutdown = CancellationToken::new();
        let calls = Arc::new(AtomicUsize::new(0));
        // Healthy, healthy, unhealthy, healthy; the fourth check also asks to stop.
        let healthy = {
            let calls = Arc::clone(&calls);
            let shutdown = shutdown.clone();
            move || {
                let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
                if call == 4 {
                    shutdown.cancel();
                }
                call != 3
            }
        };
        watchdog_loop_to(
            Some(path.as_os_str()),
            Duration::from_millis(1),
            healthy,
            shutdown.clone(),
        )
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(drain(&socket), ["WATCHDOG=1"; 3]);
    }

    #[tokio::test]
    async fn watchdog_loop_returns_at_once_when_already_shut_down() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let calls = AtomicUsize::new(0);
        watchdog_loop_to(
            None,
            Duration::from_millis(1),
            || calls.fetch_add(1, Ordering::SeqCst) < usize::MAX,
            shutdown,
        )
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}
