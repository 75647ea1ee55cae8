//! `alephd peers`: the running node's view of the network, read from its API
//! (`/api/v0/p2p/peers.json` and `/api/v0/info/public.json`).

use std::time::Duration;

use anyhow::Context;

use crate::{
    cli::PeersArgs,
    p2p::{PeersView, PublicInfo},
};

pub(crate) fn run(args: PeersArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (public, peers) = runtime.block_on(fetch(&args.api))?;
    if args.json {
        let both = serde_json::json!({"public": public, "peers": peers});
        println!("{}", serde_json::to_string_pretty(&both)?);
        return Ok(());
    }
    print!("{}", render(&public, &peers));
    Ok(())
}

async fn fetch(api: &str) -> anyhow::Result<(PublicInfo, PeersView)> {
    let base = api.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let get = |path: &'static str| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            let response = client
                .get(&url)
                .send()
                .await
                .with_context(|| format!("cannot reach the node at {url}"))?;
            let status = response.status();
            anyhow::ensure!(status.is_success(), "{url} answered {status}");
            response
                .bytes()
                .await
                .with_context(|| format!("reading {url}"))
        }
    };
    let public = serde_json::from_slice(&get("/api/v0/info/public.json").await?)
        .context("unexpected public.json")?;
    let peers = serde_json::from_slice(&get("/api/v0/p2p/peers.json").await?)
        .context("unexpected peers.json")?;
    Ok((public, peers))
}

fn render(public: &PublicInfo, peers: &PeersView) -> String {
    let mut out = format!("node {}\n", public.peer_id);
    for addr in &public.node_multi_addresses {
        out.push_str(&format!("  listening {addr}\n"));
    }
    out.push_str(&format!("connected peers: {}\n", peers.connected.len()));
    for p in &peers.connected {
        let agent = p.agent.as_deref().unwrap_or("?");
        let addr = p.addresses.first().map_or("?", String::as_str);
        out.push_str(&format!(
            "  {}  {addr}  {agent}  strikes={}\n",
            p.peer_id, p.strikes
        ));
    }
    let others: Vec<_> = peers.known.iter().filter(|p| !p.connected).collect();
    if !others.is_empty() {
        out.push_str(&format!("other known peers: {}\n", others.len()));
        for p in others {
            let state = if p.banned { "banned" } else { "disconnected" };
            let http = p.http_address.as_deref().unwrap_or("-");
            out.push_str(&format!("  {}  {state}  http={http}\n", p.peer_id));
        }
    }
    out
}
