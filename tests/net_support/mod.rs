//! Shared by tests/net*.rs: the real binary in a pseudo-terminal, `devconsole serve` as a child
//! process, and a fake proxy that records what reaches it.
#![allow(dead_code)]

use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_devconsole");
const ROWS: u16 = 30;
const COLS: u16 = 160;

pub fn deadline() -> Duration {
    if std::env::var_os("CI").is_some() {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(30)
    }
}

/// Every proxy variable a client library might read.
pub const PROXY_VARS: [&str; 6] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
];

/// A child process on a pty, its output drained on a thread into a vt100 screen.
pub struct Term {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Term {
    pub fn spawn(args: &[&str], home: &Path, extra_env: &[(&str, &str)]) -> Term {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let mut cmd = CommandBuilder::new(BIN);
        cmd.args(args);
        cmd.cwd(home);
        for k in [
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "SSH_CONNECTION",
            "SSH_TTY",
            "TMUX",
            "STY",
            "NO_COLOR",
            "NO_PROXY",
            "no_proxy",
        ]
        .into_iter()
        .chain(PROXY_VARS)
        {
            cmd.env_remove(k);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env("LANG", "C.UTF-8");
        cmd.env("DEVCONSOLE_DATA_DIR", home.join("data"));
        cmd.env("DEVCONSOLE_CONFIG_DIR", home.join("config"));
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).expect("spawn devconsole");
        drop(pair.slave);
        let parser = Arc::new(Mutex::new(vt100::Parser::new(
            ROWS.try_into().unwrap(),
            COLS.try_into().unwrap(),
            0,
        )));
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let p = parser.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => p.lock().unwrap().process(&buf[..n]),
                }
            }
        });
        let writer = pair.master.take_writer().expect("pty writer");
        Term {
            parser,
            writer,
            child,
            _master: pair.master,
        }
    }

    pub fn send(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    pub fn screen(&self) -> String {
        self.parser.lock().unwrap().screen().contents()
    }

    /// Waits until the screen satisfies `ok`; on timeout fails showing the screen.
    pub fn wait_until(&mut self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + deadline();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("devconsole exited ({status:?}) while waiting for {what}; screen:\n{screen}");
            }
            if Instant::now() > end {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_for(&mut self, text: &str) -> String {
        self.wait_until(&format!("{text:?}"), |s| s.contains(text))
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
    }
}

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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `devconsole serve` child process, killed on drop.
pub struct Server {
    pub child: std::process::Child,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

/// `devconsole serve` on a free port over `home/server.db` with `extra` arguments; waits until
/// it accepts connections.
pub fn start_server(home: &Path, password: &str, extra: &[&str]) -> Server {
    let db = format!("sqlite://{}", home.join("server.db").display());
    create_admin(&db, password);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["serve", "--listen", &addr, "--database", &db];
    args.extend_from_slice(extra);
    let child = std::process::Command::new(BIN)
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server { child, addr };
    let end = Instant::now() + deadline();
    while TcpStream::connect(&server.addr).is_err() {
        assert!(server.child.try_wait().unwrap().is_none(), "the server exited");
        assert!(Instant::now() < end, "the server did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}
