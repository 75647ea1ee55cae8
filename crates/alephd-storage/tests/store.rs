//! The store end to end on a real data dir: add, read back, pins, GC (also after a restart),
//! truncated uploads and tampered blocks.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may unwrap

use alephd_storage::{
    AddError, AddOptions, ContentRef, Engine, Layout, PinMode, PinOwner, StorageConfig, Store,
    hash_bytes,
};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

fn data(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

async fn read_all(
    store: &Store,
    item: &ContentRef,
    range: std::ops::Range<u64>,
) -> anyhow::Result<Vec<u8>> {
    let chunks: Vec<Bytes> = store.read(item, range).await?.try_collect().await?;
    Ok(chunks.concat())
}

async fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, StorageConfig::default()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipfs_and_storage_round_trip_with_ranges() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path()).await;
    let bytes = data(3 * 262_144 + 1234, 1);
    for layout in [Layout::V0, Layout::V1] {
        let added = store
            .add_bytes(
                bytes.clone().into(),
                AddOptions::new(Engine::Ipfs(layout), 1 << 30),
            )
            .await?;
        assert_eq!(added.cid, hash_bytes(&bytes, layout).cid);
        assert_eq!(read_all(&store, &added.content, 0..u64::MAX).await?, bytes);
        assert_eq!(
            read_all(&store, &added.content, 262_000..530_000).await?,
            &bytes[262_000..530_000]
        );
        let stat = store.stat(&added.content).await?.unwrap();
        assert_eq!((stat.size, stat.pins), (bytes.len() as u64, 1));
    }
    let added = store
        .add_bytes(
            bytes.clone().into(),
            AddOptions::new(Engine::Storage, 1 << 30),
        )
        .await?;
    assert_eq!(
        added.content.to_string(),
        hex::encode(Sha256::digest(&bytes))
    );
    assert_eq!(
        read_all(&store, &added.content, 5..10).await?,
        &bytes[5..10]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_oversized_uploads_store_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path()).await;
    let chunks = vec![Ok(Bytes::from(data(600_000, 2))), Err("connection reset")];
    let err = store
        .add_stream(
            futures::stream::iter(chunks),
            AddOptions::new(Engine::Storage, 1 << 30),
        )
        .await;
    assert!(matches!(err, Err(AddError::Body(_))), "{err:?}");
    let err = store
        .add_bytes(
            data(1000, 3).into(),
            AddOptions::new(Engine::Ipfs(Layout::V0), 999),
        )
        .await;
    assert!(
        matches!(err, Err(AddError::TooLarge { limit: 999 })),
        "{err:?}"
    );
    let totals = store.totals().await?;
    assert_eq!((totals.blocks, totals.roots), (0, 0));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        std::fs::read_dir(dir.path().join("staging"))?.count(),
        0,
        "staging cleaned"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_keeps_pinned_and_removes_unpinned_also_after_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = StorageConfig {
        grace_period_secs: 3600,
        ..StorageConfig::default()
    };
    let store = Store::open(dir.path(), config.clone()).await?;
    let shared = data(2 * 262_144, 4);
    let mut other = shared.clone();
    other.extend(data(262_144, 5)); // shares its first two raw leaves with `shared`
    let owner = PinOwner::new("a".repeat(64))?;
    let mut pinned = AddOptions::new(Engine::Ipfs(Layout::V1), 1 << 30);
    pinned.pin = PinMode::Owner(owner.clone());
    let kept = store.add_bytes(shared.clone().into(), pinned).await?;
    let graced = store
        .add_bytes(
            other.clone().into(),
            AddOptions::new(Engine::Ipfs(Layout::V1), 1 << 30),
        )
        .await?;
    let mut unpinned = AddOptions::new(Engine::Storage, 1 << 30);
    unpinned.pin = PinMode::None;
    let dropped = store.add_bytes(data(5000, 6).into(), unpinned).await?;

    let report = store.gc().await?;
    assert_eq!((report.roots, report.blocks), (1, 1));
    assert!(store.stat(&dropped.content).await?.is_none());
    drop(store);

    // Restart: the grace pin expires (an hour later), the owner pin stays.
    let store = Store::open(dir.path(), config.clone()).await?;
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64
        + 3601;
    let report = store.gc_at(later).await?;
    assert_eq!(report.expired_grace_pins, 1);
    // `other`'s root, one interior... only its own blocks go: the third leaf and its root.
    assert_eq!((report.roots, report.blocks), (1, 2));
    assert!(store.stat(&graced.content).await?.is_none());
    assert_eq!(read_all(&store, &kept.content, 0..u64::MAX).await?, shared);

    assert!(store.unpin(&kept.content, &owner).await?);
    drop(store);
    let store = Store::open(dir.path(), config).await?;
    let report = store.gc().await?;
    assert_eq!((report.roots, report.blocks), (1, 3));
    assert_eq!(store.totals().await?.blocks, 0);
    let left = walk(&dir.path().join("blocks"));
    assert_eq!(left, 0, "every block file deleted");
    Ok(())
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { walk(&p) } else { 1 })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_blocks_are_refused_on_read() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path()).await;
    let bytes = data(300_000, 7);
    let added = store
        .add_bytes(
            bytes.into(),
            AddOptions::new(Engine::Ipfs(Layout::V0), 1 << 30),
        )
        .await?;
    // Corrupt every leaf file on disk (same length, different bytes).
    let blocks = dir.path().join("blocks");
    for prefix in std::fs::read_dir(&blocks)? {
        for file in std::fs::read_dir(prefix?.path())? {
            let path = file?.path();
            let mut content = std::fs::read(&path)?;
            if content.len() > 1000 {
                content[500] ^= 0xff;
                std::fs::write(&path, content)?;
            }
        }
    }
    let results: Vec<_> = store
        .read(&added.content, 0..u64::MAX)
        .await?
        .collect()
        .await;
    assert!(
        results.iter().any(Result::is_err),
        "corrupt block must fail the read"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directories_like_ipfs_add_r() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path()).await;
    let mut session = store.add_session(AddOptions::new(Engine::Ipfs(Layout::V0), 1 << 30))?;
    for (path, content) in [
        ("site/index.html", &b"<h1>hi</h1>"[..]),
        ("site/css/a.css", b"body{}"),
        ("site/b.txt", b"b"),
    ] {
        let mut file = session.file(Some(path))?;
        file.write(Bytes::copy_from_slice(content)).await?;
        file.finish().await?;
    }
    let added = session.commit().await?;
    let root = added.last().unwrap();
    assert_eq!((root.path.as_str(), root.is_dir), ("site", true));
    let names: Vec<String> = store
        .list(root.cid)
        .await?
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["b.txt", "css", "index.html"]);
    let css = store.resolve_path(root.cid, "css/a.css").await?.unwrap();
    assert_eq!(
        read_all(&store, &ContentRef::Ipfs(css), 0..u64::MAX).await?,
        b"body{}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn car_export_imports_into_another_data_dir_with_the_same_root() -> anyhow::Result<()> {
    let (a, b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let (store_a, store_b) = (open(a.path()).await, open(b.path()).await);
    let bytes = data(175 * 262_144 + 17, 8); // two levels of interior nodes
    let added = store_a
        .add_bytes(
            bytes.clone().into(),
            AddOptions::new(Engine::Ipfs(Layout::V0), 1 << 30),
        )
        .await?;
    let car: Vec<Bytes> = store_a.export_car(added.cid).try_collect().await?;
    let roots = store_b
        .import_car(
            futures::stream::iter(car.clone().into_iter().map(Ok::<_, std::io::Error>)),
            PinMode::Grace,
        )
        .await?;
    assert_eq!(roots, vec![added.cid]);
    assert_eq!(
        read_all(&store_b, &added.content, 0..u64::MAX).await?,
        bytes
    );

    // A tampered CAR stores nothing.
    let c = tempfile::tempdir()?;
    let store_c = open(c.path()).await;
    let mut tampered = car.concat();
    let at = tampered.len() - 100;
    tampered[at] ^= 1;
    let err = store_c
        .import_car(
            futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(tampered))]),
            PinMode::Grace,
        )
        .await;
    assert!(
        matches!(err, Err(alephd_storage::CarError::HashMismatch(_))),
        "{err:?}"
    );
    // A CAR missing blocks is refused too.
    let partial: Vec<Bytes> = car[..car.len() - 1].to_vec();
    let err = store_c
        .import_car(
            futures::stream::iter(partial.into_iter().map(Ok::<_, std::io::Error>)),
            PinMode::Grace,
        )
        .await;
    assert!(
        matches!(err, Err(alephd_storage::CarError::Commit(_))),
        "{err:?}"
    );
    assert_eq!(store_c.totals().await?.blocks, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_counts_a_chunk_repeated_within_and_across_files() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path()).await;
    let chunk = data(262_144, 7);
    // Four identical leaves: the root links the same block four times.
    let repeated: Vec<u8> = chunk.repeat(4);
    let mut with_tail = chunk.clone();
    with_tail.extend(data(1000, 8));
    let owner = PinOwner::new("b".repeat(64))?;
    let mut none = AddOptions::new(Engine::Ipfs(Layout::V0), 1 << 30);
    none.pin = PinMode::None;
    let mut pinned = AddOptions::new(Engine::Ipfs(Layout::V0), 1 << 30);
    pinned.pin = PinMode::Owner(owner.clone());
    let gone = store.add_bytes(repeated.into(), none).await?;
    let kept = store.add_bytes(with_tail.clone().into(), pinned).await?;
    // Blocks: the shared leaf, `gone`'s root, `kept`'s tail leaf and root.
    assert_eq!(store.totals().await?.blocks, 4);

    let report = store.gc().await?;
    assert_eq!((report.roots, report.blocks), (1, 1), "only `gone`'s root");
    assert!(store.stat(&gone.content).await?.is_none());
    assert_eq!(
        read_all(&store, &kept.content, 0..u64::MAX).await?,
        with_tail
    );

    assert!(store.unpin(&kept.content, &owner).await?);
    let report = store.gc().await?;
    assert_eq!((report.roots, report.blocks), (1, 3));
    assert_eq!(store.totals().await?.blocks, 0);
    assert_eq!(walk(&dir.path().join("blocks")), 0);
    Ok(())
}
