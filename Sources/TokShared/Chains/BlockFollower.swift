/// What tok-follow needs from one chain's node: where its main chain is, and
/// the blocks on it with the events tok cares about (payments to the
/// operator's receiver, spends of the operator's coins, tokenisation anchors).
/// One implementation per chain family (`ChainFamily.blockFollower`); the
/// follower's loop, its reorganisation handling and its records are the same
/// for every family (FollowStage).
public protocol BlockFollower: AnyObject, Sendable {
    /// `.chainMismatch` unless the node serves the configured chain.
    func checkChain() async throws(TokError)
    func tipHeight() async throws(TokError) -> Int64
    /// The main chain's block hash at each height; nil beyond the node's tip.
    func blockHashes(heights: [Int64]) async throws(TokError) -> [String?]
    /// The main chain's blocks at these consecutive heights, with their events,
    /// in order; shorter than asked when the tip is reached. The caller checks
    /// that they link (each one's previous hash is the one before it): the
    /// chain may move between calls.
    func blocks(heights: ClosedRange<Int64>) async throws(TokError) -> [FollowedBlock]
    /// The node's part of `blocks(heights:)`, which may run while the previous batch is handled;
    /// it must not change the follower's state. `blocks(fetched:)` then does the rest, in batch
    /// order: the same blocks and events as `blocks(heights:)` over the same chain.
    func fetchBlocks(heights: ClosedRange<Int64>) async throws(TokError) -> FetchedBlocks
    func blocks(fetched: FetchedBlocks) async throws(TokError) -> [FollowedBlock]
    /// Outputs paying the operator that the ledger already holds ("txid:vout"),
    /// so their spends are reported; the follower adds those it sees paid.
    func watchCoins(_ outpoints: [String])
}

extension ChainFamily {
    /// The follower of `network`, or `.unsupportedChainFamily` for a family that has none.
    public func makeBlockFollower(for network: NetworkConfig, logger: Logger) throws(TokError) -> BlockFollower {
        guard let maker = self as? BlockFollowing else {
            throw TokError(.unsupportedChainFamily, "tok-follow cannot follow \(namespace) networks yet")
        }
        return try maker.blockFollower(for: network, logger: logger)
    }
}

/// A family whose chains tok-follow can follow.
public protocol BlockFollowing {
    func blockFollower(for network: NetworkConfig, logger: Logger) throws(TokError) -> BlockFollower
}

import Logging
