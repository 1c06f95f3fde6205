import Logging

/// Placeholder until the EVM payout channel lands; every call fails as unavailable.
final class EVMPayoutChannel: PayoutChannel, @unchecked Sendable {
    init(network: NetworkConfig, logger: Logger) {}
    func chainNonce(sender: String) async throws(TokError) -> UInt64 { throw TokError(.rpcUnavailable, "not implemented") }
    func sign(_ orders: [PayoutOrder], key: PrivateKey) async -> [Result<SignedPayout, TokError>] {
        orders.map { _ in .failure(TokError(.rpcUnavailable, "not implemented")) }
    }
    func broadcast(_ payouts: [SignedPayout]) async -> [Result<BroadcastOutcome, TokError>] {
        payouts.map { _ in .failure(TokError(.rpcUnavailable, "not implemented")) }
    }
    func observe(_ payouts: [SignedPayout]) async -> [Result<PayoutObservation, TokError>] {
        payouts.map { _ in .failure(TokError(.rpcUnavailable, "not implemented")) }
    }
}
