//! Terminal console benchmarks (`cargo bench --bench tui`):
//! - exec → first full frame of the real binary in embedded mode, in a pseudo-terminal;
//! - frame render time with 10,000 apps in the list;
//! - one filter keystroke (re-filter and re-sort) on that list, sorted by name and by expiry;
//! - bytes written to the terminal for one `j` keystroke on that list.

use criterion::{Criterion, black_box};
use devconsole::tui::fixtures;
use devconsole::tui::runtime::Painter;
use devconsole::tui::ui;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use ratatui::Terminal;
use ratatui::backend::{CrosstermBackend, TestBackend};
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::{TerminalOptions, Viewport};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const APPS: usize = 10_000;

fn j() -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE))
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("render");
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let mut app = fixtures::app_with(fixtures::many_apps(APPS), true);
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal.draw(|f| ui::draw(f, &app)).unwrap();
        group.bench_function(format!("frame with {APPS} apps, j each frame, {w}x{h}"), |b| {
            b.iter(|| {
                app.on_event(&j());
                if app.list.selected + 1 == APPS {
                    app.list.selected = 0;
                }
                terminal.draw(|f| ui::draw(f, black_box(&app))).unwrap();
            })
        });
    }
    // Re-filtering and re-sorting the whole list on each filter keystroke.
    for (label, presses) in [("by name", 1), ("by token expiry", 2)] {
        let mut app = fixtures::app_with(fixtures::many_apps(APPS), true);
        for _ in 0..presses {
            app.on_event(&key(KeyCode::Char('o')));
        }
        app.on_event(&key(KeyCode::Char('/')));
        group.bench_function(
            format!("type and erase a filter character, {APPS} apps sorted {label}"),
            |b| {
                b.iter(|| {
                    app.on_event(&key(KeyCode::Char('1')));
                    app.on_event(&key(KeyCode::Backspace));
                    black_box(app.visible.len())
                })
            },
        );
    }
    group.finish();
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Counts what crossterm would send to the terminal.
#[derive(Default, Clone)]
struct Counter(Arc<Mutex<usize>>);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        *self.0.lock().unwrap() += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn bytes_per_keystroke() {
    for (w, h) in [(80u16, 24u16), (120, 40)] {
        let mut app = fixtures::app_with(fixtures::many_apps(APPS), true);
        let counter = Counter::default();
        let mut terminal = Terminal::with_options(
            CrosstermBackend::new(counter.clone()),
            TerminalOptions {
                viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
            },
        )
        .unwrap();
        // The console's own painter: ratatui's diff plus the terminal's scroll region.
        let mut painter = Painter::default();
        painter.draw(&mut terminal, &app).unwrap();
        let full = *counter.0.lock().unwrap();
        let mut worst = 0;
        let mut total = 0;
        let presses = 100;
        for _ in 0..presses {
            *counter.0.lock().unwrap() = 0;
            app.on_event(&j());
            painter.draw(&mut terminal, &app).unwrap();
            let n = *counter.0.lock().unwrap();
            worst = worst.max(n);
            total += n;
        }
        println!(
            "bytes to the terminal, {APPS} apps at {w}x{h}: first frame {full} B; one `j` ({presses} presses, most \
             scroll the list): mean {} B, worst {worst} B (target ≤ 1024 B)",
            total / presses
        );
    }
}

/// Time from spawning the binary until the app list is on screen, in embedded mode.
fn first_frame_once(data: &std::path::Path) -> Duration {
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 24,
            cols: 80,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_devconsole"));
    cmd.env("DEVCONSOLE_DATA_DIR", data.join("data"));
    cmd.env("DEVCONSOLE_CONFIG_DIR", data.join("config"));
    cmd.env("TERM", "xterm-256color");
    cmd.env("LANG", "C.UTF-8");
    let start = Instant::now();
    let mut child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut parser = vt100::Parser::new(24.try_into().unwrap(), 80.try_into().unwrap(), 0);
        let mut buf = [0u8; 8192];
        let mut sent = false;
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            parser.process(&buf[..n]);
            let s = parser.screen().contents();
            // A full frame: the list (empty or not) and the status bar of a live connection.
            if !sent
                && (s.contains("No client apps yet") || s.contains("Client apps (1"))
                && s.contains("online")
            {
                let _ = tx.send(Instant::now());
                sent = true;
            }
        }
    });
    let at = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("no first frame within 30 s");
    let mut writer = pair.master.take_writer().unwrap();
    writer.write_all(b"q").unwrap();
    let _ = child.wait();
    at - start
}

fn exec_to_first_frame() {
    let runs = 15;
    let mut fresh = Vec::new();
    let mut warm = Vec::new();
    let warm_dir = tempfile::tempdir().unwrap();
    first_frame_once(warm_dir.path());
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        fresh.push(first_frame_once(dir.path()));
        warm.push(first_frame_once(warm_dir.path()));
    }
    for (what, mut v) in [("fresh data dir", fresh), ("existing data dir", warm)] {
        v.sort();
        println!(
            "exec → first full frame, embedded, {what}: median {:.1} ms, min {:.1} ms, max {:.1} ms over {runs} runs (target ≤ 100 ms)",
            v[runs / 2].as_secs_f64() * 1e3,
            v[0].as_secs_f64() * 1e3,
            v[runs - 1].as_secs_f64() * 1e3
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    render(&mut c);
    c.final_summary();
    bytes_per_keystroke();
    exec_to_first_frame();
}
