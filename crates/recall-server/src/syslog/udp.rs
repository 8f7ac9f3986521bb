//! RFC 5426: one message per datagram. The next datagram is received only once the
//! last one is committed; what the kernel's buffer cannot hold meanwhile is lost, as
//! UDP allows — a sender that must not lose messages uses TLS.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::Source;

pub(super) async fn start(
    source: Arc<Source>,
    addr: &str,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let socket = UdpSocket::bind(addr).await?;
    let bound = socket.local_addr()?;
    let handle = tokio::spawn(async move {
        // The largest UDP payload; a longer message cannot arrive in one datagram.
        let mut buf = vec![0u8; 65_535];
        loop {
            let (n, peer) = match socket.recv_from(&mut buf).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(source = %source.name, error = %e, "syslog datagram not received");
                    continue;
                }
            };
            let message = &buf[..n.min(source.cfg.max_message_bytes)];
            // A datagram that could not be appended is lost (logged): UDP has no way back.
            let _ = source.commit(message, peer).await;
        }
    });
    Ok((bound, handle))
}
