"""producer-wasm: HTTP ballots judged by a WebAssembly kernel, queued on Kafka through Intake."""
