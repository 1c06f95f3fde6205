/// A batch of blocks read from the node but not yet turned into events: what tok-follow fetches
/// for the next batch while it handles the current one, so that the node's time and tok's own
/// overlap. Fetching changes nothing in the follower (the coins it watches, what it has seen):
/// a batch fetched ahead and never used is dropped with no trace.
public struct FetchedBlocks: Sendable {
    public let heights: ClosedRange<Int64>
    /// The family's own form of what it read (nil: nothing read ahead, read it all in `blocks(fetched:)`).
    let payload: (any Sendable)?

    public init(heights: ClosedRange<Int64>, payload: (any Sendable)? = nil) {
        self.heights = heights
        self.payload = payload
    }
}

extension BlockFollower {
    /// Families that read nothing ahead: all the work happens in `blocks(fetched:)`.
    public func fetchBlocks(heights: ClosedRange<Int64>) async throws(TokError) -> FetchedBlocks {
        FetchedBlocks(heights: heights)
    }

    public func blocks(fetched: FetchedBlocks) async throws(TokError) -> [FollowedBlock] {
        try await blocks(heights: fetched.heights)
    }
}
