//! The directory tree of a multi-file upload, built into UnixFS directories like `ipfs add -r`.
//!
//! Paths come from clients: each is checked (no empty, `.` or `..` components, bounded depth
//! and length), so building the tree recursively is bounded.

use std::collections::{BTreeMap, btree_map::Entry};

use crate::{
    builder::{BlockSink, DagLink, DirEntryLink, build_directory},
    content_ref::{Cid, ContentRef},
};

use super::{AddError, Added};

const MAX_DEPTH: usize = 64;
const MAX_PATH: usize = 4096;
const MAX_NAME: usize = 255;

enum Node {
    File(DagLink),
    Dir(BTreeMap<String, Node>),
}

/// Files and directories of an upload, by path. `BTreeMap` keeps names in byte order, the
/// order UnixFS directory links are encoded in.
#[derive(Default)]
pub(super) struct Tree {
    root: BTreeMap<String, Node>,
}

/// Splits and checks a client-supplied path.
pub(super) fn split_path(path: &str) -> Result<Vec<String>, AddError> {
    let invalid = || AddError::InvalidPath(path.chars().take(200).collect());
    let parts: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect();
    let bad_part = |p: &String| {
        p.is_empty() || p == "." || p == ".." || p.len() > MAX_NAME || p.contains('\0')
    };
    if path.len() > MAX_PATH || parts.len() > MAX_DEPTH || parts.iter().any(bad_part) {
        return Err(invalid());
    }
    Ok(parts)
}

impl Tree {
    fn dir_at(
        &mut self,
        parents: &[String],
        full: &[String],
    ) -> Result<&mut BTreeMap<String, Node>, AddError> {
        let mut dir = &mut self.root;
        for name in parents {
            let node = dir
                .entry(name.clone())
                .or_insert_with(|| Node::Dir(BTreeMap::new()));
            dir = match node {
                Node::Dir(children) => children,
                Node::File(_) => return Err(AddError::InvalidPath(full.join("/"))),
            };
        }
        Ok(dir)
    }

    pub(super) fn insert_file(&mut self, path: &[String], link: DagLink) -> Result<(), AddError> {
        let (name, parents) = path
            .split_last()
            .ok_or_else(|| AddError::InvalidPath(String::new()))?;
        match self.dir_at(parents, path)?.entry(name.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(Node::File(link));
                Ok(())
            }
            Entry::Occupied(_) => Err(AddError::InvalidPath(path.join("/"))),
        }
    }

    pub(super) fn insert_dir(&mut self, path: &[String]) -> Result<(), AddError> {
        self.dir_at(path, path).map(|_| ())
    }

    /// Builds every directory (children first). Returns them and the top-level roots.
    pub(super) fn build(
        &self,
        cid_v0: bool,
        sink: &mut dyn BlockSink,
    ) -> std::io::Result<(Vec<Added>, Vec<Cid>)> {
        let mut dirs = Vec::new();
        let mut roots = Vec::new();
        for (name, node) in &self.root {
            let link = match node {
                Node::File(link) => *link,
                Node::Dir(children) => build_dir(name, children, cid_v0, sink, &mut dirs)?,
            };
            roots.push(link.cid);
        }
        Ok((dirs, roots))
    }
}

fn build_dir(
    path: &str,
    children: &BTreeMap<String, Node>,
    cid_v0: bool,
    sink: &mut dyn BlockSink,
    out: &mut Vec<Added>,
) -> std::io::Result<DagLink> {
    let mut entries = Vec::with_capacity(children.len());
    for (name, node) in children {
        let link = match node {
            Node::File(link) => *link,
            Node::Dir(sub) => build_dir(&format!("{path}/{name}"), sub, cid_v0, sink, out)?,
        };
        entries.push(DirEntryLink { name, link });
    }
    let link = build_directory(&entries, cid_v0, sink)?;
    out.push(Added {
        path: path.to_owned(),
        content: ContentRef::Ipfs(link.cid),
        cid: link.cid,
        size: link.filesize,
        tsize: link.tsize,
        is_dir: true,
    });
    Ok(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_paths_are_refused() {
        for bad in [
            "",
            "/",
            "a//b",
            "../x",
            "a/./b",
            &"d/".repeat(70),
            &"n".repeat(300),
        ] {
            assert!(split_path(bad).is_err(), "{bad}");
        }
        assert_eq!(split_path("/dir/a.txt").unwrap(), vec!["dir", "a.txt"]);
    }
}
