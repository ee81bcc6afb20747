//! A TCP proxy between the app and PostgreSQL that a test can cut and restore: a database outage
//! or restart as the app sees it, without touching the PostgreSQL server the other tests share.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Default)]
struct State {
    cut: bool,
    /// The task of every connection through the proxy (finished ones are pruned now and then).
    connections: Vec<JoinHandle<()>>,
}

pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
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
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut state = shared.lock().unwrap();
                if state.cut {
                    // Accepted and closed at once: the app sees the server hang up.
                    continue;
                }
                let target = target.clone();
                state.connections.retain(|c| !c.is_finished());
                state.connections.push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Proxy { addr, state, accept }
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

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        for connection in &self.state.lock().unwrap().connections {
            connection.abort();
        }
    }
}
