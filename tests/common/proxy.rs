//! A TCP proxy between the app and PostgreSQL that a test can cut and restore: a database outage
//! or restart as the app sees it, without touching the PostgreSQL server the other tests share.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Default)]
struct State {
    cut: bool,
    /// Bytes that, once the app sends them, start holding answers ([`Proxy::hold_answers_from`]).
    hold_from: Option<Vec<u8>>,
    /// The task of every connection through the proxy (finished ones are pruned now and then).
    connections: Vec<JoinHandle<()>>,
}

pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// While true, what the server sends is kept back (not lost): a PostgreSQL that has done
    /// the work but whose answers have not arrived yet.
    held: Arc<watch::Sender<bool>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// A proxy to the test PostgreSQL server, on a free port.
    pub async fn to_postgres() -> Proxy {
        let url = reqwest::Url::parse(&super::postgres_url()).expect("TEST_POSTGRES_URL is a URL");
        let target = format!(
            "{}:{}",
            url.host_str().unwrap_or("127.0.0.1"),
            url.port().unwrap_or(5432)
        );
        Self::start(target).await
    }

    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let (held, holding) = watch::channel(false);
        let held = Arc::new(held);
        let accept_held = held.clone();
        let accept = tokio::spawn(async move {
            let held = accept_held;
            while let Ok((client, _)) = listener.accept().await {
                let mut state = shared.lock().unwrap();
                if state.cut {
                    // Accepted and closed at once: the app sees the server hang up.
                    continue;
                }
                let target = target.clone();
                let holding = holding.clone();
                let (shared, held) = (shared.clone(), held.clone());
                state.connections.retain(|c| !c.is_finished());
                state.connections.push(tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(&target).await {
                        let (mut client_read, mut client_write) = client.into_split();
                        let (mut server_read, mut server_write) = server.into_split();
                        // Each way ends as `copy_bidirectional`'s do: at an end of stream, the
                        // other side is told with a shutdown.
                        let requests = async {
                            forward_requests(&mut client_read, &mut server_write, &shared, &held).await;
                            let _ = server_write.shutdown().await;
                        };
                        let answers = async {
                            forward_answers(&mut server_read, &mut client_write, holding).await;
                            let _ = client_write.shutdown().await;
                        };
                        tokio::join!(requests, answers);
                    }
                }));
            }
        });
        Proxy {
            addr,
            state,
            held,
            accept,
        }
    }

    /// `database_url` (`postgres://user@host:port/db`) through the proxy at `addr`.
    pub fn url_through(addr: SocketAddr, database_url: &str) -> String {
        let mut url = reqwest::Url::parse(database_url).expect("a database URL");
        url.set_ip_host(addr.ip()).unwrap();
        url.set_port(Some(addr.port())).unwrap();
        url.to_string()
    }

    /// Closes every connection through the proxy (both ends, as a PostgreSQL restart does) and
    /// refuses new ones until [`Proxy::restore`]. Returns once they are all closed.
    pub async fn cut(&self) {
        let connections = {
            let mut state = self.state.lock().unwrap();
            state.cut = true;
            std::mem::take(&mut state.connections)
        };
        for connection in connections {
            connection.abort();
            let _ = connection.await;
        }
    }

    /// Keeps back everything the server sends from now on, on every connection, until
    /// [`Proxy::release_answers`]; what the app sends still reaches the server.
    pub fn hold_answers(&self) {
        self.held.send_replace(true);
    }

    /// Starts holding answers as [`Proxy::hold_answers`] does once the app sends `bytes` (e.g.
    /// a `BEGIN`) on any connection: that statement runs, and its answer is held.
    pub fn hold_answers_from(&self, bytes: &[u8]) {
        self.state.lock().unwrap().hold_from = Some(bytes.to_vec());
    }

    /// Passes on what was kept back, and the rest as it comes.
    pub fn release_answers(&self) {
        self.held.send_replace(false);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state.lock().unwrap().cut = false;
    }

    /// How many connections are open through the proxy now.
    pub fn open_connections(&self) -> usize {
        let state = self.state.lock().unwrap();
        state.connections.iter().filter(|c| !c.is_finished()).count()
    }
}

/// Copies what the app sends to the server, starting to hold answers when it sends the bytes
/// of [`Proxy::hold_answers_from`].
async fn forward_requests(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    state: &Mutex<State>,
    held: &watch::Sender<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        {
            let mut state = state.lock().unwrap();
            if let Some(bytes) = &state.hold_from
                && buf[..n].windows(bytes.len()).any(|w| w == bytes.as_slice())
            {
                state.hold_from = None;
                held.send_replace(true);
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Copies what the server sends to the app, keeping it back while the proxy holds answers.
async fn forward_answers(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    mut holding: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if holding.wait_for(|held| !held).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        for connection in &self.state.lock().unwrap().connections {
            connection.abort();
        }
    }
}
