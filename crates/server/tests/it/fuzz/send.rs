//! Sending a case, through reqwest or over a raw socket, and reading its reply.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::body::gunzip;
use super::case::{preview, Case, Http, Wire};
use crate::edge::RawReply;

pub(super) async fn send(
    client: &reqwest::Client,
    addr: &str,
    case: &Case,
) -> Result<RawReply, String> {
    match &case.wire {
        Wire::Http(http) => send_http(client, http).await,
        Wire::Raw { bytes, half_close } => {
            let mut stream = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            // The server may answer and close before it has read everything.
            let _ = stream.write_all(bytes).await;
            if *half_close {
                let _ = stream.shutdown().await;
            }
            read_raw_reply(&mut stream, case.head()).await
        }
    }
}

/// Sends an HTTP case through reqwest; a gzip reply comes back inflated.
async fn send_http(client: &reqwest::Client, http: &Http) -> Result<RawReply, String> {
    let mut req = client.request(http.method.clone(), &http.url);
    for (k, v) in &http.headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| format!("test bug: header name {k}: {e}"))?;
        let value = reqwest::header::HeaderValue::from_bytes(v)
            .map_err(|e| format!("test bug: header value {k}: {e}"))?;
        req = req.header(name, value);
    }
    if let Some(b) = &http.body {
        req = req.body(b.clone());
    }
    let r = req.send().await.map_err(|e| format!("transport: {e:?}"))?;
    let status = r.status().as_u16();
    let headers: Vec<(String, String)> = r
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let bytes = r
        .bytes()
        .await
        .map_err(|e| format!("transport (body): {e:?}"))?;
    let mut resp = RawReply {
        status,
        headers,
        body: bytes.to_vec(),
    };
    if resp.header("content-encoding") == Some("gzip") && !resp.body.is_empty() {
        resp.body = gunzip(&resp.body)?;
    }
    Ok(resp)
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, String> {
    let mut chunk = [0u8; 16 * 1024];
    let n = tokio::time::timeout(Duration::from_secs(15), stream.read(&mut chunk))
        .await
        .map_err(|_| "no reply within 15 s".to_owned())?
        .map_err(|e| format!("read: {e}"))?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// One reply off a raw socket: content-length, chunked or close-delimited; none for HEAD.
async fn read_raw_reply(stream: &mut TcpStream, head: bool) -> Result<RawReply, String> {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if read_more(stream, &mut buf).await? == 0 {
                return Err(format!(
                    "connection closed without a reply ({} bytes: {})",
                    buf.len(),
                    preview(&buf, 200)
                ));
            }
        };
        let text = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = text.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line: {}", preview(&buf, 200)))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        buf.drain(..head_end);
        if (100..200).contains(&status) {
            continue;
        }
        let mut resp = RawReply {
            status,
            headers,
            body: Vec::new(),
        };
        if head || status == 204 || status == 304 {
            return Ok(resp);
        }
        if resp
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
        {
            let mut body = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    if read_more(stream, &mut buf).await? == 0 {
                        return Err("chunked reply cut short".into());
                    }
                };
                let size_text = String::from_utf8_lossy(&buf[..line_end]).to_string();
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| format!("bad chunk size {size_text:?}"))?;
                buf.drain(..line_end + 2);
                while buf.len() < size + 2 {
                    if read_more(stream, &mut buf).await? == 0 {
                        return Err("chunked reply cut short".into());
                    }
                }
                body.extend_from_slice(&buf[..size]);
                buf.drain(..size + 2);
                if size == 0 {
                    break;
                }
            }
            resp.body = body;
        } else if let Some(len) = resp
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            while buf.len() < len {
                if read_more(stream, &mut buf).await? == 0 {
                    return Err(format!("reply cut short: {} of {len} bytes", buf.len()));
                }
            }
            resp.body = buf[..len].to_vec();
        } else {
            while read_more(stream, &mut buf).await? > 0 {}
            resp.body = buf;
        }
        if resp.header("content-encoding") == Some("gzip") && !resp.body.is_empty() {
            resp.body = gunzip(&resp.body)?;
        }
        return Ok(resp);
    }
}
