//! Connection limits against the real server (issue 7 item 7): header, keep-alive and body
//! timeouts, the connection cap, and the shutdown deadline. Every wait has a generous bound far
//! above the configured value; nothing here asserts speed.

mod common;

use devconsole::server::{ConnLimits, ServerConfig};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Far above every timeout these tests configure (1 s).
const GENEROUS: Duration = Duration::from_secs(20);

fn short(limits: &mut ConnLimits) {
    limits.header_timeout = Duration::from_secs(1);
    limits.keep_alive_timeout = Duration::from_secs(1);
    limits.body_timeout = Duration::from_secs(1);
}

/// Reads until the server closes the connection; fails if it is still open after `GENEROUS`.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(GENEROUS, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the server kept the connection open for {GENEROUS:?}; got so far: {:?}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&got).into_owned(),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// What hyper answers first to a request that asked `Expect: 100-continue`, once the service
/// starts reading its body.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Waits for the interim `100 Continue`: proof that the request is inside the server (its head
/// parsed, the handler reading the body), not still queued or half-read, however slow the
/// machine. A condition where a sleep would only guess.
async fn wait_continue(stream: &mut tokio::net::TcpStream) {
    let mut got = vec![0u8; CONTINUE.len()];
    tokio::time::timeout(GENEROUS, stream.read_exact(&mut got))
        .await
        .unwrap_or_else(|_| panic!("no 100 Continue within {GENEROUS:?}"))
        .unwrap();
    assert_eq!(got, CONTINUE, "{}", String::from_utf8_lossy(&got));
}

async fn connect(app: &common::TestApp) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(app.server().addr()).await.unwrap()
}

#[tokio::test]
async fn a_connection_that_sends_nothing_or_half_a_header_is_closed() {
    let app = common::app()
        .configure(|c: &mut ServerConfig| {
            short(&mut c.conn);
            c.conn.keep_alive_timeout = Duration::from_secs(600);
        })
        .spawn()
        .await;
    let mut silent = connect(&app).await;
    let mut half = connect(&app).await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    assert_eq!(read_until_closed(&mut silent).await, "");
    assert_eq!(read_until_closed(&mut half).await, "");
    // A client dripping its head byte by byte is cut too: the time counts to the end of the head.
    let mut drip = connect(&app).await;
    let drip_task = tokio::spawn(async move {
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if drip.write_all(&[*b]).await.is_err() {
                return drip;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        drip
    });
    let mut drip = drip_task.await.unwrap();
    assert_eq!(read_until_closed(&mut drip).await, "");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_its_own_timeout() {
    let app = common::app()
        .configure(|c: &mut ServerConfig| {
            short(&mut c.conn);
            // A long header time: only the keep-alive timeout can close this one.
            c.conn.header_timeout = Duration::from_secs(600);
        })
        .spawn()
        .await;
    let mut conn = connect(&app).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut conn).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok"), "{answer}");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stalled_request_body_gets_408_and_the_connection_closes() {
    let app = common::app()
        .configure(|c: &mut ServerConfig| {
            short(&mut c.conn);
            c.conn.header_timeout = Duration::from_secs(600);
            c.conn.keep_alive_timeout = Duration::from_secs(600);
        })
        .spawn()
        .await;
    for (path, content_type, shape) in [
        (
            "/console/v1/sessions",
            "application/json",
            "\"code\":\"request_timeout\"",
        ),
        (
            "/scim/v2/Users",
            "application/scim+json",
            "urn:ietf:params:scim:api:messages:2.0:Error",
        ),
    ] {
        let mut conn = connect(&app).await;
        conn.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\nContent-Type: {content_type}\r\n\
                 Content-Length: 1000\r\n\r\n{{\"userName\": \"slo"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let answer = read_until_closed(&mut conn).await;
        // The console refuses an unauthenticated SCIM call before reading the body; either way
        // the connection is not held open, and the console's answer to a stalled body is a 408.
        if path.starts_with("/console") {
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
            assert!(answer.contains(shape), "{answer}");
            assert!(
                answer.contains(&format!("content-type: {content_type}")),
                "{answer}"
            );
        } else {
            assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
        }
    }
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn at_the_cap_idle_connections_make_room_and_busy_ones_get_503() {
    let app = common::app()
        .configure(|c: &mut ServerConfig| {
            c.conn.max_connections = 2;
            c.conn.body_timeout = Duration::from_secs(600);
        })
        .spawn()
        .await;
    // Two idle connections fill the cap; a third gets in and is served, pushing the oldest out.
    let mut oldest = connect(&app).await;
    let _second = connect(&app).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = connect(&app).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(
        read_until_closed(&mut oldest).await,
        "",
        "the oldest idle one made room"
    );

    // Two connections inside a request (a body still arriving) cannot be pushed out: the next
    // one is told the server is busy.
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut c = connect(&app).await;
        c.write_all(
            b"POST /console/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Expect: 100-continue\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
        busy.push(c);
    }
    // Both are inside their requests before the next one knocks.
    for c in &mut busy {
        wait_continue(c).await;
    }
    let mut refused = connect(&app).await;
    let answer = read_until_closed(&mut refused).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("server_busy"), "{answer}");
    drop(busy);
    app.shutdown().await.unwrap();
}

// ---- the real binary ------------------------------------------------------------------------

struct Serve {
    process: common::ServeProcess,
    addr: String,
    _db: common::TestDb,
}

/// `devconsole serve` with `extra` flags and at most `max_files` open files, as on a stock
/// Linux box (`ulimit -n 1024`).
fn serve(extra: &[&str], max_files: Option<u64>) -> Serve {
    use std::os::unix::process::CommandExt;
    let db = common::TestDb::fresh();
    let process = common::ServeProcess::spawn_on(db.url(), extra, |cmd| {
        if let Some(n) = max_files {
            // SAFETY: setrlimit is async-signal-safe and touches only this child.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
    })
    .ready();
    let addr = process.listen.clone();
    Serve {
        process,
        addr,
        _db: db,
    }
}

fn healthz(addr: &str) -> Result<String, String> {
    let mut c = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    c.set_read_timeout(Some(GENEROUS)).unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = String::new();
    c.read_to_string(&mut answer).map_err(|e| format!("read: {e}"))?;
    Ok(answer)
}

fn raise_own_file_limit(want: u64) {
    // SAFETY: plain getrlimit/setrlimit on this process.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[cfg(target_os = "linux")]
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

#[test]
fn eleven_hundred_idle_connections_do_not_exhaust_files_or_starve_healthz() {
    raise_own_file_limit(4096);
    let server = serve(&["--max-connections", "200"], Some(1024));
    let mut idle = Vec::new();
    for _ in 0..1100 {
        match TcpStream::connect(&server.addr) {
            Ok(c) => idle.push(c),
            Err(e) => panic!("connect {} failed: {e}", idle.len()),
        }
    }
    // All 1,100 are still open on this side while the server answers a health check.
    let answer = healthz(&server.addr).expect("healthz while 1,100 connections are open");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    #[cfg(target_os = "linux")]
    {
        let fds = open_fds(server.process.child.id());
        assert!(
            fds < 200 + 128,
            "the server holds {fds} files with a cap of 200 connections"
        );
    }
    drop(idle);
}

#[test]
fn sigterm_finishes_in_flight_requests_and_exits_at_the_deadline_while_clients_stall() {
    let server = serve(
        &[
            "--shutdown-deadline-secs",
            "3",
            "--header-timeout-secs",
            "600",
            "--body-timeout-secs",
            "600",
        ],
        None,
    );
    let post = |body_start: &str| {
        let mut c = TcpStream::connect(&server.addr).unwrap();
        c.write_all(
            format!(
                "POST /console/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Expect: 100-continue\r\nContent-Length: 60\r\n\r\n{body_start}"
            )
            .as_bytes(),
        )
        .unwrap();
        // In flight before the signal: its head parsed and its body being read (see
        // `wait_continue`).
        c.set_read_timeout(Some(GENEROUS)).unwrap();
        let mut got = vec![0u8; CONTINUE.len()];
        c.read_exact(&mut got).expect("a 100 Continue");
        assert_eq!(got, CONTINUE, "{}", String::from_utf8_lossy(&got));
        c
    };
    let mut half_header = TcpStream::connect(&server.addr).unwrap();
    half_header.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
    let body = r#"{"username":"nobody","password":"wrong-password-123"}"#;
    let body = format!("{body:<60}");
    let mut finishing = post(&body[..10]);
    let _stalled = post("{");

    // SAFETY: signalling our own child.
    assert_eq!(
        unsafe { libc::kill(server.process.child.id() as i32, libc::SIGTERM) },
        0
    );
    // The request in flight may still finish, and is answered.
    finishing.write_all(&body.as_bytes()[10..]).unwrap();
    finishing.set_read_timeout(Some(GENEROUS)).unwrap();
    let mut answer = String::new();
    let _ = finishing.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 401"),
        "in-flight request answered: {answer:?}"
    );
    // The connection waiting for a header is closed at once.
    half_header.set_read_timeout(Some(GENEROUS)).unwrap();
    let mut rest = Vec::new();
    assert!(half_header.read_to_end(&mut rest).is_ok() || rest.is_empty());

    // The stalled one is cut at the deadline, and the process exits.
    let mut server = server;
    let end = Instant::now() + GENEROUS;
    let status = loop {
        if let Some(status) = server.process.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < end,
            "devconsole serve did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn readyz_checks_the_database() {
    let app = common::spawn_app().await;
    let ready = app
        .http
        .get(format!("{}/readyz", app.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");
    // Liveness stays separate and never touches the database.
    let health = app
        .http
        .get(format!("{}/healthz", app.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    app.shutdown().await.unwrap();
}
