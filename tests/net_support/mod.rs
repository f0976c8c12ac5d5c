//! Shared by tests/net*.rs: the real binary in a pseudo-terminal, `devconsole serve` as a child
//! process, and a fake proxy that records what reaches it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// The pseudo-terminal harness is the console tests' own, not a copy.
#[path = "../tui_support/mod.rs"]
mod tui_support;
// And the serve process harness is tests/common's: every test file using this module declares
// `mod common;` too.
use crate::common;
#[allow(unused_imports)]
pub use tui_support::{BIN, ClosedPort, PROXY_VARS, Term, deadline};

/// What the fake proxy does with a request.
#[derive(Clone)]
pub enum ProxyAnswer {
    /// An HTML 502, as a corporate proxy that cannot reach the server would send.
    BadGateway,
    /// Answers `CONNECT` with 200 and pipes the tunnel to this address, whatever host was asked.
    Tunnel(String),
}

/// A TCP listener on 127.0.0.1 that records every connection and the request head it got.
pub struct FakeProxy {
    pub url: String,
    heads: Arc<Mutex<Vec<String>>>,
    /// Every byte the client sent inside tunnels.
    tunnelled: Arc<Mutex<Vec<u8>>>,
}

impl FakeProxy {
    pub fn start(answer: ProxyAnswer) -> FakeProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let tunnelled = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        let piped = tunnelled.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let seen = seen.clone();
                let piped = piped.clone();
                let answer = answer.clone();
                std::thread::spawn(move || {
                    let head = read_head(&mut stream);
                    seen.lock().unwrap().push(head);
                    match answer {
                        ProxyAnswer::Tunnel(target) => {
                            let Ok(mut upstream) = TcpStream::connect(&target) else {
                                return;
                            };
                            let _ = stream.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                            let _ = stream.set_read_timeout(None);
                            let (mut down_r, mut down_w) =
                                (upstream.try_clone().unwrap(), stream.try_clone().unwrap());
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut down_r, &mut down_w);
                            });
                            let mut buf = [0u8; 8192];
                            loop {
                                match stream.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => {
                                        piped.lock().unwrap().extend_from_slice(&buf[..n]);
                                        if upstream.write_all(&buf[..n]).is_err() {
                                            break;
                                        }
                                    }
                                }
                            }
                        }
                        ProxyAnswer::BadGateway => {
                            let body = "<html><body><h1>502 Bad Gateway</h1></body></html>";
                            let _ = write!(
                                stream,
                                "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            );
                        }
                    }
                });
            }
        });
        FakeProxy {
            url,
            heads,
            tunnelled,
        }
    }

    /// The bytes the client sent through `CONNECT` tunnels.
    pub fn tunnelled(&self) -> Vec<u8> {
        self.tunnelled.lock().unwrap().clone()
    }

    /// The request heads received so far (one per connection; empty if nothing was sent).
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

fn read_head(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A `devconsole serve` child process (tests/common's), killed on drop: `.listen` is its
/// address, `.child` the process.
pub type Server = common::ServeProcess;

/// Creates the developer admin `alice` in the database at `db`.
pub fn create_admin(db: &str, password: &str) {
    let mut create = std::process::Command::new(BIN)
        .args([
            "admin",
            "create",
            "alice",
            "--role",
            "developer",
            "--password-stdin",
            "--database",
            db,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    assert!(create.wait().unwrap().success(), "admin create failed");
}

/// `devconsole serve` over `home/server.db` with `extra` arguments, on a port it binds itself;
/// waits until it is listening.
pub fn start_server(home: &Path, password: &str, extra: &[&str]) -> Server {
    let db = format!("sqlite://{}", home.join("server.db").display());
    create_admin(&db, password);
    common::ServeProcess::spawn_on(&db, extra, |_| {}).ready()
}
