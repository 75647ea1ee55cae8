//! Adding content: an [`AddSession`] takes one or more files as streams of byte chunks,
//! builds their DAGs on blocking threads into a staging directory, and commits everything in
//! one transaction — or nothing, if the upload is cut short, too large, or not what was expected.
//!
//! Memory per file: the channel (a few body chunks) + one 256 KiB chunk + the open tree levels.

mod tree;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::{sync::mpsc, task::JoinHandle};

use crate::{
    blockstore::StagingSink,
    builder::{BlockSink, DagLink, DiscardSink, FileBuilder, Layout},
    content_ref::{BlockDigest, Cid, ContentRef, Sha256Hash},
    store::{CommitError, CommitPlan, PinOwner, Store},
};
use tree::Tree;

/// Body chunks queued between the receiving task and the hashing thread.
const CHANNEL_CHUNKS: usize = 16;

/// Which addressing the caller wants back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// `storage`: the sha256 of the bytes (stored as a CIDv1 raw-leaves DAG).
    Storage,
    /// `ipfs`: the UnixFS root CID for this layout.
    Ipfs(Layout),
}

/// What keeps the added content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinMode {
    /// Kept for the configured grace period (uploads without a message).
    Grace,
    /// Kept until this message unpins it.
    Owner(PinOwner),
    /// Not pinned: the next GC deletes it unless something pins it first.
    None,
}

/// How to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddOptions {
    pub engine: Engine,
    pub pin: PinMode,
    /// Compute the address only, store nothing.
    pub only_hash: bool,
    /// Total bytes accepted for the whole session.
    pub max_size: u64,
    /// Refuse to store unless the (single) result is exactly this item.
    pub expect: Option<ContentRef>,
}

impl AddOptions {
    pub fn new(engine: Engine, max_size: u64) -> Self {
        AddOptions {
            engine,
            pin: PinMode::Grace,
            only_hash: false,
            max_size,
            expect: None,
        }
    }
}

/// An added file or directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Added {
    /// Path within the upload ("" for a lone file without a name).
    pub path: String,
    /// The item as its engine addresses it.
    pub content: ContentRef,
    /// Root of the DAG.
    pub cid: Cid,
    /// File bytes (sum of files for a directory).
    pub size: u64,
    /// Cumulative DAG size (Kubo's `Size`).
    pub tsize: u64,
    pub is_dir: bool,
}

/// An add that failed; nothing was stored.
#[derive(Debug, Error)]
pub enum AddError {
    #[error("upload exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("upload body failed: {0}")]
    Body(String),
    #[error("invalid path `{0}` in upload")]
    InvalidPath(String),
    #[error("content is {actual}, expected {expected}")]
    Mismatch {
        expected: Box<ContentRef>,
        actual: Box<ContentRef>,
    },
    #[error("an earlier file of this upload failed")]
    Poisoned,
    #[error("nothing was added")]
    Empty,
    #[error("staging failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("an add task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

enum Sink {
    Discard(DiscardSink),
    Staging(StagingSink),
}

impl BlockSink for Sink {
    fn put(
        &mut self,
        digest: BlockDigest,
        parts: &[&[u8]],
        links: &[BlockDigest],
    ) -> std::io::Result<()> {
        match self {
            Sink::Discard(s) => s.put(digest, parts, links),
            Sink::Staging(s) => s.put(digest, parts, links),
        }
    }
}

/// One upload: files (optionally under paths), committed together.
pub struct AddSession {
    store: Store,
    opts: AddOptions,
    sink: Option<Sink>,
    total: u64,
    tree: Tree,
    /// Roots of files added without a path.
    roots: Vec<Cid>,
    files: Vec<Added>,
}

impl Store {
    /// Starts an upload.
    pub fn add_session(&self, opts: AddOptions) -> Result<AddSession, AddError> {
        let sink = match opts.only_hash {
            true => Sink::Discard(DiscardSink),
            false => Sink::Staging(self.inner.blocks.stage()?),
        };
        Ok(AddSession {
            store: self.clone(),
            opts,
            sink: Some(sink),
            total: 0,
            tree: Tree::default(),
            roots: Vec::new(),
            files: Vec::new(),
        })
    }

    /// Adds one file from a stream of chunks and commits it.
    pub async fn add_stream<S, E>(&self, body: S, opts: AddOptions) -> Result<Added, AddError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let mut session = self.add_session(opts)?;
        let mut file = session.file(None)?;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            file.write(chunk.map_err(|e| AddError::Body(e.to_string()))?)
                .await?;
        }
        file.finish().await?;
        session.commit().await?.pop().ok_or(AddError::Empty)
    }

    /// Adds one in-memory file and commits it.
    pub async fn add_bytes(&self, bytes: Bytes, opts: AddOptions) -> Result<Added, AddError> {
        self.add_stream(
            futures::stream::iter([Ok::<_, std::convert::Infallible>(bytes)]),
            opts,
        )
        .await
    }
}

impl AddSession {
    /// Starts the next file; `path` places it in a directory tree (`a/b.txt`).
    pub fn file(&mut self, path: Option<&str>) -> Result<FileWriter<'_>, AddError> {
        let path = match path {
            Some(p) => Some(tree::split_path(p)?),
            None => None,
        };
        let sink = self.sink.take().ok_or(AddError::Poisoned)?;
        let layout = match self.opts.engine {
            Engine::Storage => Layout::V1,
            Engine::Ipfs(layout) => layout,
        };
        let (data_tx, data_rx) = mpsc::channel(CHANNEL_CHUNKS);
        let worker = tokio::task::spawn_blocking(move || build_file(data_rx, sink, layout));
        let sha = (self.opts.engine == Engine::Storage).then(|| {
            let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
            (tx, tokio::task::spawn_blocking(move || hash_file(rx)))
        });
        Ok(FileWriter {
            session: self,
            path,
            data_tx,
            sha,
            worker,
            size: 0,
        })
    }

    /// Adds an (empty unless files follow) directory at `path`.
    pub fn directory(&mut self, path: &str) -> Result<(), AddError> {
        self.tree.insert_dir(&tree::split_path(path)?)
    }

    /// Builds directories, checks the expectation, and stores everything (unless only-hash).
    /// Returns files then directories, the upload's top-level entries last.
    pub async fn commit(mut self) -> Result<Vec<Added>, AddError> {
        let mut sink = self.sink.take().ok_or(AddError::Poisoned)?;
        let cid_v0 = matches!(self.opts.engine, Engine::Ipfs(l) if l.cid_v0);
        let (dirs, tree_roots) = self.tree.build(cid_v0, &mut sink)?;
        let mut roots = std::mem::take(&mut self.roots);
        roots.extend(tree_roots);
        let mut added = std::mem::take(&mut self.files);
        added.extend(dirs);
        if let Some(expected) = self.opts.expect {
            let actual = added.last().ok_or(AddError::Empty)?.content;
            if added.len() != 1 || !same_item(&expected, &actual) {
                return Err(AddError::Mismatch {
                    expected: Box::new(expected),
                    actual: Box::new(actual),
                });
            }
        }
        let Sink::Staging(staging) = sink else {
            return Ok(added);
        };
        let pin = match &self.opts.pin {
            PinMode::Grace => Some((
                crate::index::GRACE_OWNER.to_owned(),
                Some(self.store.grace_expiry()),
            )),
            PinMode::Owner(owner) => Some((owner.as_str().to_owned(), None)),
            PinMode::None => None,
        };
        let storage_item = match (self.opts.engine, added.as_slice()) {
            (Engine::Storage, [one]) => match one.content {
                ContentRef::Storage(sha) => BlockDigest::of_cid(&one.cid)
                    .map(|root| (sha.0, root, one.cid.codec(), one.size)),
                ContentRef::Ipfs(_) => None,
            },
            _ => None,
        };
        let roots = roots.iter().filter_map(BlockDigest::of_cid).collect();
        self.store
            .commit(
                staging,
                CommitPlan {
                    roots,
                    pin,
                    storage_item,
                },
            )
            .await?;
        Ok(added)
    }
}

fn same_item(expected: &ContentRef, actual: &ContentRef) -> bool {
    match (expected, actual) {
        (ContentRef::Ipfs(a), ContentRef::Ipfs(b)) => a == b,
        (ContentRef::Storage(a), ContentRef::Storage(b)) => a == b,
        _ => false,
    }
}

/// The side task hashing a file's bytes with sha256, and its input.
type ShaWorker = (mpsc::Sender<Option<Bytes>>, JoinHandle<Option<[u8; 32]>>);

/// Receives one file's bytes.
pub struct FileWriter<'s> {
    session: &'s mut AddSession,
    path: Option<Vec<String>>,
    data_tx: mpsc::Sender<Option<Bytes>>,
    sha: Option<ShaWorker>,
    worker: JoinHandle<(Sink, std::io::Result<Option<DagLink>>)>,
    size: u64,
}

impl FileWriter<'_> {
    /// Appends bytes; fails once the session's limit is exceeded.
    pub async fn write(&mut self, data: Bytes) -> Result<(), AddError> {
        let limit = self.session.opts.max_size;
        self.session.total += data.len() as u64;
        if self.session.total > limit {
            return Err(AddError::TooLarge { limit });
        }
        self.size += data.len() as u64;
        if let Some((tx, _)) = &self.sha {
            tx.send(Some(data.clone()))
                .await
                .map_err(|_| AddError::Poisoned)?;
        }
        if self.data_tx.send(Some(data)).await.is_err() {
            // The builder stopped: its error comes out of finish().
            return Err(AddError::Poisoned);
        }
        Ok(())
    }

    /// Ends the file and returns its address (committed with the session).
    pub async fn finish(self) -> Result<Added, AddError> {
        let FileWriter {
            session,
            path,
            data_tx,
            sha,
            worker,
            size,
        } = self;
        let _ = data_tx.send(None).await;
        drop(data_tx);
        let (sink, built) = worker.await?;
        session.sink = Some(sink);
        let link = built?.ok_or(AddError::Poisoned)?;
        let content = match sha {
            Some((tx, hasher)) => {
                let _ = tx.send(None).await;
                drop(tx);
                ContentRef::Storage(Sha256Hash(hasher.await?.ok_or(AddError::Poisoned)?))
            }
            None => ContentRef::Ipfs(link.cid),
        };
        let path_str = path.as_ref().map(|p| p.join("/")).unwrap_or_default();
        match &path {
            Some(path) => session.tree.insert_file(path, link)?,
            None => session.roots.push(link.cid),
        }
        let added = Added {
            path: path_str,
            content,
            cid: link.cid,
            size,
            tsize: link.tsize,
            is_dir: false,
        };
        session.files.push(added.clone());
        Ok(added)
    }
}

/// Blocking: chunks the incoming bytes and builds the DAG. `None` result means aborted.
fn build_file(
    mut rx: mpsc::Receiver<Option<Bytes>>,
    mut sink: Sink,
    layout: Layout,
) -> (Sink, std::io::Result<Option<DagLink>>) {
    let mut builder = FileBuilder::new(layout);
    let mut chunk = BytesMut::with_capacity(layout.chunk_size);
    let result = (|| {
        while let Some(message) = rx.blocking_recv() {
            let Some(mut data) = message else {
                if !chunk.is_empty() {
                    builder.push_chunk(&chunk, &mut sink)?;
                }
                return builder.finish(&mut sink).map(Some);
            };
            while !data.is_empty() {
                let room = layout.chunk_size - chunk.len();
                if chunk.is_empty() && data.len() >= layout.chunk_size {
                    // A whole chunk in the incoming buffer: no copy.
                    builder.push_chunk(&data.split_to(layout.chunk_size), &mut sink)?;
                    continue;
                }
                let take = room.min(data.len());
                chunk.extend_from_slice(&data.split_to(take));
                if chunk.len() == layout.chunk_size {
                    builder.push_chunk(&chunk, &mut sink)?;
                    chunk.clear();
                }
            }
        }
        Ok(None)
    })();
    (sink, result)
}

/// Blocking: the sha256 of the whole file (the `storage` item hash).
fn hash_file(mut rx: mpsc::Receiver<Option<Bytes>>) -> Option<[u8; 32]> {
    let mut hasher = Sha256::new();
    while let Some(message) = rx.blocking_recv() {
        match message {
            Some(data) => hasher.update(&data),
            None => return Some(hasher.finalize().into()),
        }
    }
    None
}
