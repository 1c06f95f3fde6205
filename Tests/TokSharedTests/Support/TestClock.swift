/// The time ledger tests hand to transitions (the ledger never reads a clock):
/// 2025-06-15, fixed, so a test's audit bodies are the same on every run.
let testNowMilliseconds: Int64 = 1_750_000_000_000

/// Thrown by a test to abandon (roll back) a batch.
struct AbandonBatch: Error {}
