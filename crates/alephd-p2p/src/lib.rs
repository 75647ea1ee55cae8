//! The peer-to-peer network (being written).
