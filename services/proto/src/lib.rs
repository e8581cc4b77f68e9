//! The Flywheel contracts, generated from `proto/`: message types, tonic clients and servers for
//! every context, and the file descriptor set that gRPC reflection serves.

#![allow(clippy::all, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/flywheel.rs"));

/// The encoded `FileDescriptorSet` of every Flywheel proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/flywheel_descriptor.bin"));
