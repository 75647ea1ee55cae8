//! Chain sync (being written).
