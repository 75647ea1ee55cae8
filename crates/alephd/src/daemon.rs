//! `alephd daemon`: wires the node's services together, runs them, and shuts them down.
//!
//! Start-up order: config → data dir lock → logs → services → API. Shutdown: SIGINT/SIGTERM
//! cancels one token; every service drains and returns; the lock is released last.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{cli::NodeArgs, config::NodeConfig, data_dir::DataDir, logging};

pub(crate) fn run(args: NodeArgs) -> anyhow::Result<()> {
    let config = NodeConfig::load(&args)?;
    let data_dir = DataDir::open(&config.data_dir)?;
    logging::init(&config.log.filter)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("alephd")
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(config, &data_dir));
    drop(data_dir);
    result
}

async fn serve(config: NodeConfig, data_dir: &DataDir) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    tokio::spawn(cancel_on_signal(cancel.clone()));

    let db = alephd_db::Db::open_with(&data_dir.root().join("alephd.db"), &config.db)
        .await
        .context("cannot open the state database")?;
    // Until the storage engine is wired in, non-inline contents are unavailable (retried).
    let fetcher = Arc::new(alephd_processor::NoContentStore);
    let (processor, processor_task) = alephd_processor::Processor::spawn(
        db.clone(),
        config.processor.clone(),
        fetcher,
        cancel.clone(),
    );
    let state = alephd_api::ApiState {
        core: Some(alephd_api::CoreApi::new(db.clone(), processor)),
    };
    let listener = TcpListener::bind(config.api.addr)
        .await
        .with_context(|| format!("cannot listen on {} (api.addr)", config.api.addr))?;
    tracing::info!(
        api = %listener.local_addr()?,
        data_dir = %data_dir.root().display(),
        version = env!("CARGO_PKG_VERSION"),
        "alephd node started"
    );
    axum::serve(listener, alephd_api::router(state))
        .with_graceful_shutdown(cancel.clone().cancelled_owned())
        .await
        .context("API server failed")?;
    cancel.cancel();
    match processor_task.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(%err, "processor stopped with an error"),
        Err(err) => tracing::error!(%err, "processor task panicked"),
    }
    db.close().await;
    tracing::info!("alephd node stopped");
    Ok(())
}

/// Cancels `cancel` on the first SIGINT or SIGTERM.
async fn cancel_on_signal(cancel: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
    cancel.cancel();
}
