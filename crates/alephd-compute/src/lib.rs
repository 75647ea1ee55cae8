//! `alephd-compute`: runs programs. The `sandbox` runtime runs Aleph PROGRAMs as they are
//! (zip/squashfs/plain code on a Debian runtime image, ASGI or binary) under bubblewrap in fresh
//! namespaces with seccomp and cgroup limits.

pub mod sandbox;
