//! `alephd daemon`: wires the node's services together, runs them, and shuts them down.
//!
//! Start-up order: config → data dir lock → logs → services → API. Shutdown: SIGINT/SIGTERM
//! cancels one token; every service drains and returns; the lock is released last.

use std::future::IntoFuture;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{cli::NodeArgs, config::NodeConfig, data_dir::DataDir, logging, p2p};

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
    let store = alephd_storage::Store::open(data_dir.root(), config.storage.clone())
        .await
        .context("cannot open the content store")?;
    let network =
        p2p::Network::start(&config.p2p, data_dir.root(), &db, &store, cancel.clone()).await?;
    let (processor, processor_task) = alephd_processor::Processor::spawn(
        db.clone(),
        config.processor.clone(),
        network.fetcher(),
        cancel.clone(),
    );
    // Chain archives come from the local store, then peers, like message content.
    let archive_fetcher = network.fetcher();
    let (network_routes, network_task) = network.attach(processor.clone(), cancel.clone()).await?;
    let chain_tasks = crate::chain::spawn(
        &config.chain,
        data_dir.root(),
        &db,
        (&store, archive_fetcher),
        &processor,
        &cancel,
    )?;
    let compute = crate::compute::start(&config.compute, data_dir.root(), &db, &store)?;
    let triggers = compute.as_ref().map(|compute| {
        [
            crate::compute::spawn_triggers(compute.clone(), processor.subscribe(), cancel.clone()),
            crate::compute::spawn_persistent_keeper(compute.clone(), cancel.clone()),
        ]
    });
    let state = alephd_api::ApiState::default()
        .with_core(alephd_api::CoreApi::new(db.clone(), processor))
        .with_storage(store);
    let listener = TcpListener::bind(config.api.addr)
        .await
        .with_context(|| format!("cannot listen on {} (api.addr)", config.api.addr))?;
    tracing::info!(
        api = %listener.local_addr()?,
        data_dir = %data_dir.root().display(),
        version = env!("CARGO_PKG_VERSION"),
        "alephd node started"
    );
    let mut app = alephd_api::router(state).merge(network_routes);
    if let Some(wasm) = compute.as_ref().and_then(|c| c.wasm()) {
        // Programs with `environment.aleph_api` reach the node here.
        wasm.set_api_authority(listener.local_addr()?.to_string());
    }
    if let Some(compute) = &compute {
        app = app
            .merge(alephd_compute::routes::router(compute.clone()))
            .layer(axum::middleware::from_fn_with_state(
                compute.clone(),
                alephd_compute::routes::host_route,
            ));
    }
    let api = axum::serve(listener, app)
        .with_graceful_shutdown(cancel.clone().cancelled_owned())
        .into_future();
    tokio::pin!(api);
    // The processor is critical: if it stops on its own, the node stops too, loudly.
    let mut processor_task = processor_task;
    let outcome = tokio::select! {
        served = &mut api => {
            cancel.cancel();
            let processor = processor_task.await;
            served.context("API server failed").and(flatten(processor))
        }
        processor = &mut processor_task => {
            // On shutdown the processor may well finish before the API: that is no failure.
            let requested = cancel.is_cancelled();
            if !requested {
                tracing::error!("the message processor stopped; shutting the node down");
            }
            cancel.cancel();
            let served = api.await.context("API server failed");
            let stopped = match requested {
                true => Ok(()),
                false => Err(anyhow::anyhow!("the message processor stopped")),
            };
            flatten(processor).and(served).and(stopped)
        }
    };
    // The swarm stops on the same token; wait for it so the port is free when we return.
    let network = network_task
        .await
        .unwrap_or_else(|e| Err(anyhow::anyhow!("the p2p network panicked: {e}")));
    let outcome = outcome.and(network);
    crate::chain::join(chain_tasks).await;
    for task in triggers.into_iter().flatten() {
        let _ = task.await;
    }
    if let Some(compute) = compute {
        compute.shutdown().await;
    }
    db.close().await;
    tracing::info!("alephd node stopped");
    outcome
}

/// A task's outcome as one result.
fn flatten<E: std::error::Error + Send + Sync + 'static>(
    joined: Result<Result<(), E>, tokio::task::JoinError>,
) -> anyhow::Result<()> {
    match joined {
        Ok(result) => result.context("message processor failed"),
        Err(err) => Err(anyhow::anyhow!("message processor panicked: {err}")),
    }
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
