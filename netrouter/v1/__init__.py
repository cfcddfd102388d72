"""Generated protobuf and gRPC code for the netrouter.v1 wire schema (see protos/)."""
