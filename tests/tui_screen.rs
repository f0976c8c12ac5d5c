//! The console inside a real GNU screen session on a pseudo-terminal (the admin's terminal):
//! `y` must reach that terminal as OSC 52 through screen's DCS passthrough, holding exactly the
//! token, and the message must say so.

mod tui_support;

use tui_support::{BIN, Term, jwt_on_screen, osc52_payload};

#[test]
fn gnu_screen_passes_the_osc52_copy_through_to_the_terminal() {
    let home = tempfile::tempdir().unwrap();
    let sockets = home.path().join("screens");
    std::fs::create_dir_all(&sockets).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // screen refuses a socket directory others can read.
        std::fs::set_permissions(&sockets, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let rc = home.path().join("screenrc");
    std::fs::write(&rc, "startup_message off\n").unwrap();
    let sock = sockets.display().to_string();
    let rc = rc.display().to_string();
    let session = format!("devconsole-test-{}", std::process::id());
    // Ends the session even when the test fails half-way (screen's server outlives its client).
    struct Quit<'a>(&'a str, &'a str);
    impl Drop for Quit<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("screen")
                .args(["-S", self.1, "-X", "quit"])
                .env("SCREENDIR", self.0)
                .output();
        }
    }
    let _quit = Quit(&sock, &session);
    let mut t = Term::spawn_program(
        "screen",
        &["-U", "-q", "-c", &rc, "-S", &session, BIN],
        home.path(),
        &[("SCREENDIR", sock.as_str()), ("SHELL", "/bin/sh")],
        (30, 100),
    );
    t.wait_for("No client apps yet");
    t.send("a");
    t.wait_for("Provisioning management");
    t.send("Okta sync\r");
    t.wait_for("This client secret is shown only once");
    t.send(" \r");
    t.wait_for("Issue (disabled: SCIM is off");
    t.send("s");
    t.wait_for("Switch Enable SCIM on for Okta sync?");
    t.send("y");
    t.wait_for("[ ON  ]");
    t.send("i");
    // GNU screen repaints the outer terminal as it reads, without the console's synchronized
    // updates, so the harness can see the modal half-drawn: wait for the line under the token,
    // which is drawn after every row of it.
    let screen = t.wait_until("the token modal drawn down to its keys", |s| {
        s.contains("This token is shown only once") && s.contains("I have stored this token")
    });
    let (jwt, _) = jwt_on_screen(&screen).unwrap_or_else(|| panic!("no JWT on screen:\n{screen}"));
    let before = t.raw().len();
    t.send("y");
    t.wait_for("Sent via OSC 52 through GNU screen");
    let raw = t.wait_raw("an OSC 52 sequence from screen", |r| {
        osc52_payload(r, before).is_some()
    });
    assert_eq!(
        osc52_payload(&raw, before).unwrap(),
        jwt,
        "the terminal got exactly the token, through screen"
    );
    t.send(" \r");
    t.wait_until("the modal to close", |s| {
        !s.contains("This token is shown only once")
    });
    t.send("q");
    t.wait_exit();
}
