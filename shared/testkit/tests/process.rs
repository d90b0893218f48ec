//! Runs real child processes through ChildProcess and stops them by PID.

use std::time::Duration;

use weft_testkit::{ChildProcess, free_port, wait_for};

#[tokio::test]
async fn logs_output_and_kill9() -> anyhow::Result<()> {
    let mut p = ChildProcess::spawn(
        "sh",
        ["-c", "echo started $WEFT_X; echo oops >&2; exec sleep 600"],
        [("WEFT_X", "yes")],
    )?;
    assert!(p.pid() > 0);
    wait_for(Duration::from_secs(5), || {
        let log = p.log();
        async move { (log.contains("started yes") && log.contains("oops")).then_some(()) }
    })
    .await?;
    assert!(p.is_running());
    let status = p.kill9()?;
    assert!(!status.success());
    assert!(!p.is_running());
    Ok(())
}

#[test]
fn terminate_sends_sigterm() -> anyhow::Result<()> {
    let mut p = ChildProcess::spawn(
        "sh",
        [
            "-c",
            "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done",
        ],
        std::iter::empty::<(&str, &str)>(),
    )?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !p.log().contains("ready") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = p.terminate()?;
    assert_eq!(status.code(), Some(3), "log: {}", p.log());
    assert!(p.log().contains("got-term"));
    Ok(())
}

#[test]
fn drop_kills_by_pid() -> anyhow::Result<()> {
    let p = ChildProcess::spawn("sleep", ["600"], std::iter::empty::<(&str, &str)>())?;
    let pid = p.pid().to_string();
    drop(p);
    let alive = std::process::Command::new("kill")
        .args(["-0", &pid])
        .status()?
        .success();
    assert!(!alive, "pid {pid} still alive after drop");
    Ok(())
}

#[test]
fn free_ports_are_bindable() -> anyhow::Result<()> {
    let port = free_port();
    assert_ne!(port, 0);
    let _listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    Ok(())
}

#[tokio::test]
async fn wait_for_times_out() {
    let r = wait_for(Duration::from_millis(120), || async { None::<()> }).await;
    assert!(r.is_err());
}
