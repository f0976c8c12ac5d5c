p='tests/common/mod.rs'
s=open(p).read()
old=s[s.index('    /// Starts `devconsole serve --listen 127.0.0.1:PORT --database URL EXTRA…` and waits until'):s.index('    /// `http://127.0.0.1:PORT`.\n    pub fn url(&self) -> String {\n        format!("http://{}", self.listen)')]
new='''    /// Starts `devconsole serve --listen 127.0.0.1:PORT --database URL EXTRA…` and waits until
    /// it accepts connections. Its output is discarded.
    pub fn start(db: &TestDb, extra: &[&str]) -> ServeProcess {
        Self::spawn(db, extra).ready()
    }

    /// Starts the process without waiting; call [`ServeProcess::ready`] (lets several start at
    /// the same moment).
    pub fn spawn(db: &TestDb, extra: &[&str]) -> ServeProcess {
        let listen = format!("127.0.0.1:{}", free_port());
        let child = std::process::Command::new(BIN)
            .args(["serve", "--listen", &listen, "--database", db.url()])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn devconsole serve");
        ServeProcess { child, listen }
    }

    /// Waits until it accepts connections.
    pub fn ready(mut self) -> ServeProcess {
        let end = Instant::now() + deadline();
        while std::net::TcpStream::connect(&self.listen).is_err() {
            assert!(self.child.try_wait().unwrap().is_none(), "the server exited");
            assert!(Instant::now() < end, "the server did not start listening");
            std::thread::sleep(StdDuration::from_millis(20));
        }
        self
    }

'''
s=s.replace(old,new)
open(p,'w').write(s)
